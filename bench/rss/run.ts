/**
 * Resident memory of each process, as shipped: the five distributed services
 * started from `pnpm build` output with plain node, then embedded mode from
 * the same build. For each: RSS idle (VmRSS of /proc/<pid>/status a few
 * seconds after /readyz), and under the ingest + check bench load (the highest
 * VmRSS sampled every 250 ms while it runs, and VmHWM, the kernel's peak),
 * and whether chDB is mapped. Goals (issue 18): ≤ 150 MB idle, ≤ 250 MB under
 * load for the distributed services. A script, not a test: nothing asserted.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:rss [--seconds 15] [--connections 16]
 *
 * Load: autocannon at once against POST /v1/events (the ingest bench's
 * 100-event JSON batch) and POST /v1/check (the check bench's reserving check
 * under three budgets), each with `connections` connections.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { distributedEnv, dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { freePort, REPO_ROOT, type RunningProcess, startBuilt, waitReady } from "../../test/support/processes";
import { CHECK_BODY } from "../check/request";
import { jsonBody } from "../ingest/bodies";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "15" }, connections: { type: "string", default: "16" } },
  allowPositionals: true, // `pnpm bench:rss -- --seconds 5` passes a lone "--"
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const IDLE_SETTLE_MS = 5_000;
const MB = 1024 * 1024;

function status(pid: number | undefined, field: "VmRSS" | "VmHWM"): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]);
  return (kb * 1024) / MB;
}
function mapsChdb(pid: number | undefined): boolean {
  return /chdb/i.test(readFileSync(`/proc/${pid}/maps`, "utf8"));
}

interface Measured {
  name: string;
  idle: number;
  load: number;
  peak: number;
  chdb: boolean;
}

/** Idle figure, then the load with sampling; `procs` by name. */
async function measure(
  procs: Record<string, RunningProcess>,
  targets: { events: string; check: string; key: string },
): Promise<Measured[]> {
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const rows = Object.entries(procs).map(([name, p]) => ({
    name,
    pid: p.child.pid,
    idle: status(p.child.pid, "VmRSS"),
    load: 0,
    peak: 0,
    chdb: mapsChdb(p.child.pid),
  }));
  const sampler = setInterval(() => {
    for (const row of rows) row.load = Math.max(row.load, status(row.pid, "VmRSS"));
  }, 250);
  const headers = { authorization: `Bearer ${targets.key}`, "content-type": "application/json" };
  const run = (url: string, body: string) =>
    autocannon({ url, method: "POST", headers, body, connections, pipelining: 1, duration: seconds });
  const [events, checks] = await Promise.all([run(targets.events, jsonBody()), run(targets.check, CHECK_BODY)]);
  clearInterval(sampler);
  for (const row of rows) row.peak = status(row.pid, "VmHWM");
  console.log(
    `  load: ${Math.round(events.requests.average * 100)} events/s (${events.non2xx} non-2xx), ` +
      `${Math.round(checks.requests.average)} checks/s (${checks.non2xx} non-2xx)`,
  );
  return rows;
}

async function budgets(enforcementUrl: string, key: string): Promise<void> {
  for (const [id, scope] of [
    ["bench-org-day", { type: "org", id: "bench-org" }],
    ["bench-project-day", { type: "project", id: "bench-project" }],
    ["bench-user-day", { type: "user", id: "*" }],
  ] as const) {
    const res = await fetch(`${enforcementUrl}/v1/budgets/${id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ scope, metric: "tokens", window: { type: "calendar", unit: "day" }, limit: 1e15 }),
    });
    if (res.status !== 201) throw new Error(`budget ${id}: ${res.status} ${await res.text()}`);
  }
}

async function distributed(key: string): Promise<Measured[]> {
  const broker = await startPrivateBroker(6);
  const store = await freshClickHouseDatabase(runId("tg_rss_"));
  const procs: Record<string, RunningProcess> = {};
  try {
    const base = {
      ...distributedEnv({
        brokers: broker.brokers,
        database: store.database,
        adminKey: key,
        keyPrefix: runId("rss"),
        logLevel: "warn",
      }),
    };
    const urls: Record<string, string> = {};
    for (const name of ["ingest", "enforcement", "aggregator", "sink", "reports"]) {
      const port = await freePort();
      const prefix = name.toUpperCase();
      procs[name] = startBuilt(name, { ...base, [`${prefix}_PORT`]: String(port), [`${prefix}_HOST`]: "127.0.0.1" });
      urls[name] = `http://127.0.0.1:${port}`;
    }
    await Promise.all(Object.values(urls).map((url) => waitReady(url)));
    await budgets(urls.enforcement as string, key);
    return await measure(procs, { events: `${urls.ingest}/v1/events`, check: `${urls.enforcement}/v1/check`, key });
  } finally {
    await Promise.all(Object.values(procs).map((p) => p.stop()));
    await broker.stop();
    await dropDatabase(store);
  }
}

async function embedded(key: string): Promise<Measured[]> {
  const dataDir = mkdtempSync(`${tmpdir()}/tollgate-rss-`);
  const ports = { ingest: await freePort(), enforcement: await freePort(), reports: await freePort() };
  const proc = startBuilt("embedded", {
    TOLLGATE_DATA_DIR: dataDir,
    INGEST_PORT: String(ports.ingest),
    ENFORCEMENT_PORT: String(ports.enforcement),
    REPORTS_PORT: String(ports.reports),
    TOLLGATE_ADMIN_KEY: key,
    LOG_LEVEL: "warn",
  });
  try {
    const enforcement = `http://127.0.0.1:${ports.enforcement}`;
    await waitReady(enforcement);
    await budgets(enforcement, key);
    return await measure(
      { embedded: proc },
      { events: `http://127.0.0.1:${ports.ingest}/v1/events`, check: `${enforcement}/v1/check`, key },
    );
  } finally {
    await proc.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function print(rows: Measured[]): void {
  const mb = (n: number) => `${n.toFixed(0)} MB`.padStart(10);
  console.log(
    `${"process".padEnd(14)}${"idle".padStart(10)}${"load".padStart(10)}${"VmHWM".padStart(10)}  chDB    goals`,
  );
  for (const r of rows) {
    const goals = r.name === "embedded" ? "(none)" : r.idle <= 150 && r.load <= 250 ? "met" : "MISSED";
    console.log(
      `${r.name.padEnd(14)}${mb(r.idle)}${mb(r.load)}${mb(r.peak)}  ${(r.chdb ? "mapped" : "no").padEnd(8)}${goals}`,
    );
  }
}

engineEnv(); // fails early, naming the variable, when the engines' env is not sourced
// Fresh bundles: figures of a stale build would describe other code.
execFileSync(process.execPath, ["--import", "tsx", "infra/build.ts"], { cwd: REPO_ROOT, stdio: "inherit" });
const key = `bench-${runId()}-${runId()}-${runId()}`;
console.log(`distributed (dist/, plain node), ${seconds} s of load, ${connections} connections per route`);
const rows = await distributed(key);
console.log(`embedded (dist/, plain node)`);
rows.push(...(await embedded(key)));
console.log("");
console.log(
  `Node ${process.version}; idle = VmRSS ${IDLE_SETTLE_MS / 1000} s after ready; load = highest VmRSS sampled`,
);
print(rows);
