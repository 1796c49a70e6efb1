import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BudgetStore } from "@tollgate/budgets";
import { insertUsageEventLines, migrate, type SqlStore, usageEventLine } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { freePort, REPO_ROOT, type RunningProcess, startBuilt, startTs } from "../../test/support/processes";
import { fleetBudgets, fleetStream } from "./events";

const DAY_MS = 86_400_000;
const INSERT_ROWS = 50_000;

/**
 * The two calendar months before the current one, ending two days before it
 * begins: no event falls in an open window, even at 00:30 on the 1st (the
 * forecasts' hour, the day's running totals).
 */
function previousMonths(nowMs: number): { from: number; to: number; label: string } {
  const now = new Date(nowMs);
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const from = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1);
  return { from, to: monthStart - 2 * DAY_MS, label: new Date(monthStart).toISOString().slice(0, 7) };
}

/**
 * A data dir (TOLLGATE_DATA_DIR layout: chDB under `chdb/`, database
 * `tollgate`) holding `events` usage events spread over the two previous
 * months and the fleet's three budgets, written with the sql package's own
 * insert (JSONEachRow lines, 50,000 a call), then merged as a long-running
 * embedded mode would have merged them (see mergeAndClean).
 * Cached under .tollgate/cache/, keyed by the count and the current month
 * (next month, these events would no longer be "the two months before").
 */
export async function storedDataDir(events: number, log: (line: string) => void): Promise<string> {
  const months = previousMonths(Date.now());
  const dir = join(REPO_ROOT, ".tollgate", "cache", `capacity-${events}-before-${months.label}`);
  const done = join(dir, "complete.json");
  if (existsSync(done)) {
    log(`  embedded: reusing ${dir}`);
    return dir;
  }
  rmSync(dir, { recursive: true, force: true });
  const store = await openChdbStore({ path: join(dir, "chdb"), database: "tollgate" });
  const started = performance.now();
  try {
    await migrate(store);
    const span = months.to - months.from;
    const stream = fleetStream(7, (_, random) => months.from + Math.floor(random() * span));
    for (let written = 0; written < events; ) {
      const lines: string[] = [];
      while (lines.length < Math.min(INSERT_ROWS, events - written)) {
        for (const event of stream.next(Math.min(500, events - written - lines.length)).events)
          lines.push(usageEventLine(event));
      }
      await insertUsageEventLines(store, lines);
      written += lines.length;
      const s = (performance.now() - started) / 1000;
      log(
        `  embedded: ${written.toLocaleString("en")} of ${events.toLocaleString("en")} events in chDB (${s.toFixed(0)} s)`,
      );
    }
    const budgets = new BudgetStore(store);
    for (const budget of fleetBudgets(Date.now())) await budgets.put(budget);
    await mergeAndClean(store);
  } finally {
    await store.close();
  }
  writeFileSync(done, `${JSON.stringify({ events, from: months.from, to: months.to, writtenAt: Date.now() })}\n`);
  log(`  embedded: data dir written in ${((performance.now() - started) / 1000).toFixed(0)} s: ${dir}`);
  return dir;
}

const TABLES = ["usage_events", "usage_event_ids", "usage_hourly", "usage_daily"];

/**
 * One part per partition, and no outdated parts left on disk: they would
 * stay for `old_parts_lifetime` (8 min) and be loaded by the next start,
 * which a long-running store never shows. Shortened for the wait, then reset,
 * so the tables' definitions are the migrations' own.
 */
async function mergeAndClean(store: SqlStore): Promise<void> {
  for (const table of TABLES) await store.command(`OPTIMIZE TABLE ${table} FINAL`);
  for (const table of TABLES) await store.command(`ALTER TABLE ${table} MODIFY SETTING old_parts_lifetime = 1`);
  const deadline = performance.now() + 300_000;
  const outdated = async () =>
    Number(
      (
        await store.query<{ n: string }>(
          "SELECT count() AS n FROM system.parts WHERE database = currentDatabase() AND NOT active",
        )
      )[0]?.n,
    );
  while ((await outdated()) > 0) {
    if (performance.now() > deadline) throw new Error("outdated parts still on disk after 300 s");
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const table of TABLES) await store.command(`ALTER TABLE ${table} RESET SETTING old_parts_lifetime`);
}

export interface StartFigures {
  /** From spawn to the first 200 of /readyz (s). */
  readyS: number;
  /** VmRSS once ready, and VmHWM (the peak of the start). */
  rssMb: number;
  hwmMb: number;
  /** What the start's rebuild said it counted (the "counters rebuilt from chDB" log line). */
  rebuilt: string;
}

function status(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]) / 1024;
}

/** Polls /readyz every 20 ms: the figure is the start, so the poll must not add much to it. */
async function readyAfter(url: string, proc: RunningProcess, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`embedded mode exited:\n${proc.output().slice(-4000)}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline)
      throw new Error(`not ready within ${timeoutMs} ms:\n${proc.output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether to start dist/embedded (plain node) or the sources under tsx. */
export type StartFrom = "dist" | "tsx";

export function defaultStartFrom(): StartFrom {
  return existsSync(join(REPO_ROOT, "dist", "embedded", "index.js")) ? "dist" : "tsx";
}

export function distAge(): string {
  const built = statSync(join(REPO_ROOT, "dist", "embedded", "index.js")).mtimeMs;
  return `${Math.round((Date.now() - built) / 60_000)} min old`;
}

/**
 * Starts embedded mode on a copy of `source` (an empty dir when null: a copy,
 * so every start sees the same files), free ports, and measures the start.
 */
export async function measureStart(source: string | null, from: StartFrom): Promise<StartFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), "tollgate-capacity-"));
  if (source) cpSync(source, dataDir, { recursive: true });
  const ports = { ingest: await freePort(), enforcement: await freePort(), reports: await freePort() };
  const env = {
    TOLLGATE_DATA_DIR: dataDir,
    INGEST_PORT: String(ports.ingest),
    ENFORCEMENT_PORT: String(ports.enforcement),
    REPORTS_PORT: String(ports.reports),
    TOLLGATE_ADMIN_KEY: "capacity-bench-admin-key-0123456789",
    LOG_LEVEL: "info",
  };
  const started = performance.now();
  const proc =
    from === "dist" ? startBuilt("embedded", env) : startTs("services/embedded/src/index.ts", env, "embedded");
  try {
    await readyAfter(`http://127.0.0.1:${ports.enforcement}`, proc, 300_000);
    const readyS = (performance.now() - started) / 1000;
    const line = proc
      .output()
      .split("\n")
      .find((l) => l.includes("counters rebuilt from chDB"));
    const parsed = line ? (JSON.parse(line) as { counted?: number; from?: string }) : {};
    return {
      readyS,
      rssMb: status(proc.child.pid, "VmRSS"),
      hwmMb: status(proc.child.pid, "VmHWM"),
      rebuilt: line ? `${parsed.counted} counted from ${parsed.from}` : "(no rebuild line)",
    };
  } finally {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
