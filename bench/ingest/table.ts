export interface Row {
  name: string;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  note?: string;
}

/** The q-quantile of sorted values (nearest rank). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

export function printTable(rows: Row[], ceiling: number, context: Record<string, string>): void {
  console.log("");
  for (const [label, value] of Object.entries(context)) console.log(`${label.padEnd(8)} ${value}`);
  console.log("");
  console.log(
    `${"workload".padEnd(34)}${"events/s".padStart(11)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"÷ raw kafkajs".padStart(15)}  note`,
  );
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(34)}${row.eventsPerSecond.toFixed(0).padStart(11)}${row.p50Ms.toFixed(1).padStart(9)}${row.p99Ms
        .toFixed(1)
        .padStart(9)}${(row.eventsPerSecond / ceiling).toFixed(2).padStart(15)}  ${row.note ?? ""}`,
    );
  }
  console.log("\nratio = events/s ÷ mean of the two raw kafkajs runs (goal for ingest ≥ 0.70);");
  console.log("latency is per request (HTTP) or per send (kafkajs), each carrying the same number of events.");
}
