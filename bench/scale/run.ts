/**
 * Does Tollgate stay fast with many budgets and keys? Each figure is taken
 * side by side in the same run: a "small" instance (10 explicit per-user
 * budgets, a handful of keys) against a "large" one (the same 10 among
 * `--budgets` explicit per-user budgets, and `--keys` keys), both in the same
 * mode, loaded alternately:
 *   checks     POST /v1/check (reserving, the same body, user u-5 whose
 *              budget exists in both) req/s and p99 under autocannon:
 *              embedded (one process each) and distributed (an enforcement
 *              process each, same Redis, own ClickHouse database).
 *              Goals: req/s ratio ≥ 0.9, p99 ≤ 1.5×.
 *   idle CPU   of each instance over `--idle-seconds` with nothing sent
 *              (utime + stime of /proc/<pid>/stat), right after the bulk
 *              writes and again `--settle-seconds` later. Goal ≤ 2 % of a
 *              core, settled.
 *   bulk       how fast the large instance's budgets and keys are created
 *              through POST /v1/budgets:batch and /v1/keys:batch.
 *   counting   the aggregator's counting path (createAggregator, in process,
 *              the same events of the same 10 users) with 10 vs `--budgets`
 *              budgets, over the memory ledger (embedded) and Redis
 *              (distributed), in steady state. Goal ≥ 0.9. And the first
 *              batch after the budgets changed, which indexes them again.
 * Each round loads both back to back (which goes first alternates); prints
 * medians, and for checks the median of the rounds' ratios. A script, not a test.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:scale [--budgets 100000] [--keys 100000] [--seconds 3] [--rounds 10] [--idle-seconds 20] [--settle-seconds 60]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Budget, createMemoryLedger, createRedisLedger, type Ledger } from "@tollgate/budgets";
import { createKeyBuilder } from "@tollgate/counters";
import { sampleUsageEvent } from "@tollgate/events";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import { budget } from "../../packages/budgets/src/testing";
import { aggregatorOver } from "../../test/support/aggregator";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { freePort, type RunningProcess, startTs, waitReady } from "../../test/support/processes";

const { values: args } = parseArgs({
  options: {
    budgets: { type: "string", default: "100000" },
    keys: { type: "string", default: "100000" },
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "10" },
    "idle-seconds": { type: "string", default: "20" },
    "settle-seconds": { type: "string", default: "60" },
    connections: { type: "string", default: "16" },
    modes: { type: "string", default: "embedded,distributed" },
  },
  allowPositionals: true,
});
const BUDGETS = Number(args.budgets);
const KEYS = Number(args.keys);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const IDLE_SECONDS = Number(args["idle-seconds"]);
const SETTLE_SECONDS = Number(args["settle-seconds"]);
const CONNECTIONS = Number(args.connections);
const MODES = args.modes.split(",").filter(Boolean) as Array<"embedded" | "distributed">;
/** Items per bulk request: the API's cap. */
const BATCH = 1_000;
/** Explicit budgets the small instance has, and the users the load is about (in both). */
const ACTIVE_USERS = 10;

for (const variable of ["REDIS_URL", "CLICKHOUSE_URL"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

const CHECK_BODY = JSON.stringify({
  org_id: "bench-org",
  project_id: "bench-project",
  user_id: "u-5",
  // The agent the load's key speaks for (an agent key is bound to its agent).
  agent_id: "agent-0",
  model: "gpt-4o",
  input_tokens: 1200,
  max_output_tokens: 800,
  reserve: true,
});
const day = { type: "calendar", unit: "day" } as const;
/** User u-i's own budget, as the API takes it. */
const userBudget = (i: number) => ({
  scope: { type: "user" as const, id: `u-${i}` },
  metric: "tokens" as const,
  window: day,
  limit: 1e15,
});

interface Instance {
  name: string;
  url: string;
  proc: RunningProcess;
  adminKey: string;
  /** An agent key the load authenticates with (one of the instance's keys). */
  agentKey: string;
  cleanup(): Promise<void>;
}

async function post(instance: Instance, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${instance.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${instance.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** Creates `budgets` per-user budgets and `keys` keys through the bulk endpoints; returns their rates (per s). */
async function populate(instance: Instance, budgets: number, keys: number) {
  let started = performance.now();
  for (let i = 0; i < budgets; i += BATCH) {
    const upsert = Array.from({ length: Math.min(BATCH, budgets - i) }, (_, j) => ({
      id: `user-${i + j}`,
      ...userBudget(i + j),
    }));
    await post(instance, "/v1/budgets:batch", { upsert });
  }
  const budgetsPerS = budgets / ((performance.now() - started) / 1000);
  started = performance.now();
  for (let i = 0; i < keys; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, keys - i) }, (_, j) => ({
      role: "agent",
      name: `agent-key-${i + j}`,
      default_tags: { agent_id: `agent-${i + j}` },
    }));
    const answer = (await post(instance, "/v1/keys:batch", { create: batch })) as { created: Array<{ key: string }> };
    if (i === 0) instance.agentKey = answer.created[0]?.key ?? "";
  }
  const keysPerS = keys / ((performance.now() - started) / 1000);
  return { budgetsPerS, keysPerS };
}

async function startEmbedded(name: string): Promise<Instance> {
  const dataDir = mkdtempSync(join(tmpdir(), `tollgate-scale-${name}-`));
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const port = await freePort();
  const proc = startTs(
    "services/embedded/src/index.ts",
    {
      TOLLGATE_DATA_DIR: dataDir,
      ENFORCEMENT_PORT: String(port),
      INGEST_PORT: String(await freePort()),
      REPORTS_PORT: String(await freePort()),
      TOLLGATE_ADMIN_KEY: adminKey,
      LOG_LEVEL: "warn",
    },
    `embedded-${name}`,
  );
  await proc.waitForOutput(/admin key/, 120_000);
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return {
    name,
    url,
    proc,
    adminKey,
    agentKey: "",
    cleanup: async () => {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startEnforcement(name: string): Promise<Instance> {
  const store = await freshClickHouseDatabase();
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const prefix = runId(`scale${name}`);
  // Counters complete (as the aggregator marks them): checks read Redis instead of following the failure policy.
  const redis = new Redis(engineEnv().redisUrl);
  await redis.hset(createKeyBuilder(prefix).countersState(), { partitions: "1", p0: String(Date.now()) });
  const proc = startTs(
    "services/enforcement/src/index.ts",
    {
      REDIS_URL: engineEnv().redisUrl,
      REDIS_KEY_PREFIX: prefix,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      ENFORCEMENT_PORT: "0",
      ENFORCEMENT_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    },
    `enforcement-${name}`,
  );
  const url = `http://127.0.0.1:${(await proc.waitForOutput(/"port":(\d+)/, 60_000))[1]}`;
  await waitReady(url);
  return {
    name,
    url,
    proc,
    adminKey,
    agentKey: "",
    cleanup: async () => {
      await proc.stop();
      const found = await redis.keys(`${prefix}:*`);
      for (let i = 0; i < found.length; i += 10_000) await redis.del(...found.slice(i, i + 10_000));
      await redis.quit();
      await dropDatabase(store);
    },
  };
}

interface Loaded {
  rps: number;
  p99: number;
  errors: number;
  cpuMsPerCheck: number;
}

async function load(instance: Instance): Promise<Loaded> {
  const cpuBefore = mainThreadTicks(instance.proc.child.pid);
  const result = await autocannon({
    url: `${instance.url}/v1/check`,
    method: "POST",
    headers: { authorization: `Bearer ${instance.agentKey}`, "content-type": "application/json" },
    body: CHECK_BODY,
    connections: CONNECTIONS,
    duration: SECONDS,
  });
  const cpuMs = (mainThreadTicks(instance.proc.child.pid) - cpuBefore) * 10;
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    cpuMsPerCheck: cpuMs / Math.max(1, result.requests.total),
  };
}

/**
 * CPU time (clock ticks of 1/100 s) of a process's main thread — the one
 * that answers checks. Per check, it is the figure this machine's noise
 * (two shared cores, a neighbour's load) moves least: req/s also counts the
 * time the thread waited for a core.
 */
function mainThreadTicks(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** Share of one core the process used over `seconds` (utime + stime, in clock ticks of 1/100 s). */
async function cpuShare(pid: number | undefined, seconds: number): Promise<number> {
  const ticks = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return Number(fields[11]) + Number(fields[12]);
  };
  const before = ticks();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return (ticks() - before) / 100 / seconds;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
/** Lowest and highest, as "a–b". */
const spread = (values: number[]) => `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
const pct = (share: number) => `${(share * 100).toFixed(2)} %`;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function checksIn(mode: "embedded" | "distributed") {
  const start = mode === "embedded" ? startEmbedded : startEnforcement;
  const [small, large] = [await start("small"), await start("large")];
  try {
    await populate(small, ACTIVE_USERS, 5);
    const bulk = await populate(large, BUDGETS, KEYS);
    // Past the config follower's lookback: what the bulk wrote is no longer read again.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const idleShares = () =>
      Promise.all([cpuShare(small.proc.child.pid, IDLE_SECONDS), cpuShare(large.proc.child.pid, IDLE_SECONDS)]);
    const [idleSmall, idleLarge] = await idleShares();
    // Again once the store has settled: embedded mode's chDB merges the parts the bulk writes made
    // in its own process for a while, which is the bulk write's cost, not the idle one.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
    const [settledSmall, settledLarge] = await idleShares();
    await load(small); // warm-up
    await load(large);
    const rounds: Array<{ small: Loaded; large: Loaded }> = [];
    for (let r = 0; r < ROUNDS; r++) {
      const first = r % 2 === 0 ? small : large;
      const second = first === small ? large : small;
      const a = await load(first);
      const b = await load(second);
      rounds.push(first === small ? { small: a, large: b } : { small: b, large: a });
    }
    // Each round loads both back to back, so its ratio compares the two under the same machine; the
    // figure is the median of the rounds' ratios (the machine's speed drifts between rounds by more
    // than the difference looked for).
    const compare = (pick: (load: Loaded) => number) => {
      const ratios = rounds.map((r) => pick(r.large) / pick(r.small));
      return {
        small: median(rounds.map((r) => pick(r.small))),
        large: median(rounds.map((r) => pick(r.large))),
        ratio: median(ratios),
        spread: spread(ratios),
      };
    };
    const rps = compare((l) => l.rps);
    const p99 = compare((l) => l.p99);
    const cpu = compare((l) => l.cpuMsPerCheck);
    const errors = rounds.reduce((sum, r) => sum + r.small.errors + r.large.errors, 0);
    return {
      mode,
      bulk,
      idle: { small: idleSmall, large: idleLarge },
      settled: { small: settledSmall, large: settledLarge },
      rps,
      p99,
      cpu,
      errors,
    };
  } finally {
    await Promise.all([small.cleanup(), large.cleanup()]);
  }
}

/**
 * The counting path over `ledger` with these budgets, the same events of the ACTIVE_USERS users:
 * `perSecond` in steady state, and `firstBatchMs`, the first batch after the budgets changed, which
 * pays for indexing them (built once per change, not per event).
 */
async function countingRate(
  ledger: Ledger,
  budgets: Budget[],
  prefix: string,
): Promise<{ perSecond: number; firstBatchMs: number }> {
  const { engine } = aggregatorOver(ledger, { budgets, keys: createKeyBuilder(prefix) });
  const now = Date.now();
  const events = Array.from({ length: 50_500 }, (_, i) =>
    sampleUsageEvent({
      event_id: `${prefix}-${i}`,
      timestamp_ms: now - 50_000 + i,
      org_id: "bench-org",
      project_id: "bench-project",
      user_id: `u-${i % ACTIVE_USERS}`,
      agent_id: `agent-${i % 20}`,
      cost_micro_usd: 650,
      cost_source: "priced",
    }),
  );
  const batch = (from: number) => events.slice(from, from + 500).map((event) => ({ event }));
  const first = performance.now();
  await engine.count(batch(0));
  const started = performance.now();
  for (let i = 500; i < events.length; i += 500) await engine.count(batch(i));
  return {
    perSecond: (events.length - 500) / ((performance.now() - started) / 1000),
    firstBatchMs: started - first,
  };
}

async function counting() {
  const made = Date.now();
  const all = Array.from({ length: BUDGETS }, (_, i) => budget(`user-${i}`, userBudget(i), made));
  const few = all.slice(0, ACTIVE_USERS);
  const redis = new Redis(engineEnv().redisUrl);
  const prefixes: string[] = [];
  const ledgers = {
    embedded: () => createMemoryLedger(),
    distributed: () => createRedisLedger(redis, createKeyBuilder("unused")),
  };
  const results: Array<{ mode: string; small: number; large: number; firstSmall: number; firstLarge: number }> = [];
  for (const mode of ["embedded", "distributed"] as const) {
    const small: number[] = [];
    const large: number[] = [];
    const firstSmall: number[] = [];
    const firstLarge: number[] = [];
    const run = async (set: Budget[], label: string) => {
      const prefix = runId(`scalecount${label}`);
      prefixes.push(prefix);
      // A fresh array, as after a change: the engine indexes it again (it keeps its index per array).
      return countingRate(ledgers[mode](), [...set], prefix);
    };
    await run(few, "warm"); // JIT and connection warm-up, not recorded
    await run(all, "warm");
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating which goes first: neither profits from the other's warm-up or GC.
      const order = r % 2 === 0 ? ([few, all] as const) : ([all, few] as const);
      for (const set of order) {
        const { perSecond, firstBatchMs } = await run(set, String(r));
        (set === few ? small : large).push(perSecond);
        (set === few ? firstSmall : firstLarge).push(firstBatchMs);
      }
    }
    results.push({
      mode,
      small: median(small),
      large: median(large),
      firstSmall: median(firstSmall),
      firstLarge: median(firstLarge),
    });
  }
  for (const prefix of prefixes) {
    const found = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < found.length; i += 10_000) await redis.del(...found.slice(i, i + 10_000));
  }
  await redis.quit();
  return results;
}

console.log(`bench/scale: ${fmt(BUDGETS)} budgets, ${fmt(KEYS)} keys vs ${ACTIVE_USERS} budgets; ${ROUNDS} rounds`);
for (const mode of MODES) {
  const r = await checksIn(mode);
  console.log(`\n${mode}`);
  console.log(`  bulk creation        budgets ${fmt(r.bulk.budgetsPerS)}/s, keys ${fmt(r.bulk.keysPerS)}/s`);
  console.log(
    `  idle CPU             small ${pct(r.idle.small)}, large ${pct(r.idle.large)} of a core, right after the bulk writes`,
  );
  console.log(
    `  idle CPU, settled    small ${pct(r.settled.small)}, large ${pct(r.settled.large)} of a core, ${SETTLE_SECONDS} s later (goal ≤ 2 %)`,
  );
  console.log(
    `  check req/s          small ${fmt(r.rps.small)}, large ${fmt(r.rps.large)}: ratio ${r.rps.ratio.toFixed(2)} (goal ≥ 0.9; rounds ${r.rps.spread})`,
  );
  console.log(
    `  check p99 ms         small ${r.p99.small}, large ${r.p99.large}: ratio ${r.p99.ratio.toFixed(2)} (goal ≤ 1.5)`,
  );
  console.log(
    `  main-thread CPU      small ${r.cpu.small.toFixed(3)}, large ${r.cpu.large.toFixed(3)} ms a check: large ÷ small ${r.cpu.ratio.toFixed(2)}`,
  );
  if (r.errors > 0) console.log(`  errors or non-2xx    ${r.errors}`);
}
console.log("\ncounting (aggregator, in process)");
for (const r of await counting()) {
  console.log(
    `  ${r.mode.padEnd(12)} events/s small ${fmt(r.small)}, large ${fmt(r.large)}: ratio ${(r.large / r.small).toFixed(2)} (goal ≥ 0.9)`,
  );
  console.log(
    `  ${"".padEnd(12)} first batch of 500 after a change: small ${r.firstSmall.toFixed(1)} ms, large ${r.firstLarge.toFixed(1)} ms`,
  );
}
