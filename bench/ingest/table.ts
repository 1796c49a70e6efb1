export interface Row {
  name: string;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  note?: string;
  /** Set when the workload could not run; printed instead of figures. */
  unavailable?: string;
}

export const GOAL_RATIO = 0.7;

/** The q-quantile of sorted values (nearest rank). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values: ReadonlyArray<number>): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const COLUMNS = [
  { title: "workload", width: 34 },
  { title: "events/s", width: 10 },
  { title: "p50 ms", width: 8 },
  { title: "p99 ms", width: 8 },
  { title: "÷ raw kafkajs", width: 14 },
] as const;

function line(cells: string[], note: string): string {
  const padded = cells.map((cell, i) => {
    const width = COLUMNS[i]?.width ?? 10;
    return i === 0 ? cell.padEnd(width) : cell.padStart(width);
  });
  return `${padded.join(" | ")}${note ? ` | ${note}` : ""}`;
}

/**
 * Prints the context, the table and the verdict per ingest workload.
 * `baseline` is the raw producer's events/s the ratios are taken against.
 */
export function printReport(
  context: Record<string, string>,
  rows: { baseline: Row[]; ingest: Row[] },
  baseline: number,
): void {
  console.log("");
  const labelWidth = Math.max(...Object.keys(context).map((label) => label.length));
  for (const [label, value] of Object.entries(context)) console.log(`${label.padEnd(labelWidth)}  ${value}`);
  console.log("");
  console.log(
    line(
      COLUMNS.map((c) => c.title),
      "note",
    ),
  );
  console.log(line(COLUMNS.map((c) => "-".repeat(c.width)).slice(), "----"));
  const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  for (const row of [...rows.baseline, ...rows.ingest]) {
    if (row.unavailable) {
      console.log(line([row.name, "—", "—", "—", "—"], row.unavailable));
      continue;
    }
    console.log(
      line(
        [
          row.name,
          fmt.format(row.eventsPerSecond),
          row.p50Ms.toFixed(1),
          row.p99Ms.toFixed(1),
          (row.eventsPerSecond / baseline).toFixed(2),
        ],
        row.note ?? "",
      ),
    );
  }
  console.log("");
  console.log(
    `ratio = events/s ÷ raw kafkajs events/s (${fmt.format(baseline)}, mean of the ${rows.baseline.length} baseline runs).`,
  );
  console.log("latency: per HTTP request (ingest) or per producer.send (baseline); each carries 100 events.");
  console.log(`goal: ingest ÷ raw kafkajs ≥ ${GOAL_RATIO.toFixed(2)}`);
  for (const row of rows.ingest) {
    if (row.unavailable) {
      console.log(`  ${row.name}: not measured (${row.unavailable})`);
      continue;
    }
    const ratio = row.eventsPerSecond / baseline;
    console.log(`  ${row.name}: ${ratio.toFixed(2)} — ${ratio >= GOAL_RATIO ? "meets the goal" : "below the goal"}`);
  }
}

/** With several rounds: each workload's ratio per round and their median, the figure to read against the goal. */
export function printMedians(ratios: ReadonlyMap<string, ReadonlyArray<number>>): void {
  console.log("");
  console.log(`over all rounds (median of the rounds' ratios; goal ≥ ${GOAL_RATIO.toFixed(2)}):`);
  for (const [name, each] of ratios) {
    const m = median(each);
    console.log(
      `  ${name}: ${m.toFixed(2)} (${each.map((r) => r.toFixed(2)).join(", ")}) — ${m >= GOAL_RATIO ? "meets the goal" : "below the goal"}`,
    );
  }
}
