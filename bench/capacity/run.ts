/**
 * Capacity (issue 18): what counting costs in memory, and what stored
 * history costs embedded mode's start. A script, not a test: nothing asserted.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env     # Redis (REDIS_URL, default 127.0.0.1:6379)
 *   pnpm bench:capacity [-- --events 1000000 --window 5 --runs 3 --only redis,memory,embedded]
 *
 * 1. Redis: `--events` events of a fleet (events.ts) through the aggregator's
 *    handler (createAggregator over the Redis ledger, positions as the Kafka
 *    consumer passes them, batches of `--chunk`, `--concurrency` partitions
 *    at once) under a fresh key prefix with a `--window`-second dedupe
 *    window. At `--checkpoint` events and at the end: wait until SCAN finds no
 *    seen-marker of the run, then MEMORY USAGE (SAMPLES 0) summed by kind
 *    over the prefix's keys. Never flushes: the prefix's keys are deleted.
 * 2. Memory ledger (embedded mode's store): the same stream, V8 heap per
 *    marker and per bucket.
 * 3. Embedded start: time to /readyz 200 and VmRSS once ready, on a data dir
 *    with `--events` events of the two previous months vs an empty dir (the
 *    first start: migrations run) and vs a migrated one with the same budgets
 *    and no events (the events' own cost), `--runs` starts each, alternating
 *    (median). From dist/ when built (`--from dist|tsx`), else under tsx.
 */
import { parseArgs } from "node:util";
import {
  defaultStartFrom,
  distAge,
  measureStart,
  type StartFigures,
  type StartFrom,
  storedDataDir,
} from "./embedded-start";
import { type MemoryFigures, measureMemoryLedger } from "./memory-ledger";
import { type Census, type Checkpoint, measureRedis, type RedisFigures } from "./redis-memory";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    checkpoint: { type: "string" },
    window: { type: "string", default: "5" },
    chunk: { type: "string", default: "500" },
    concurrency: { type: "string", default: "3" },
    "memory-events": { type: "string", default: "200000" },
    runs: { type: "string", default: "3" },
    from: { type: "string" },
    only: { type: "string", default: "redis,memory,embedded" },
  },
  // `pnpm bench:capacity -- --runs 5` passes a lone "--" first, after which parseArgs would take every option as positional.
  args: process.argv.slice(2).filter((arg, i) => i > 0 || arg !== "--"),
});
const events = Number(args.events);
const checkpoint = Number(args.checkpoint ?? Math.round(events / 10));
const windowS = Number(args.window);
const only = new Set((args.only ?? "").split(","));
const from = (args.from ?? defaultStartFrom()) as StartFrom;
/** The default dedupe window (TOLLGATE_DEDUPE_WINDOW_SECONDS) and the rates of the capacity model. */
const MODEL_WINDOW_S = 3_600;
const RATES_PER_MIN = [2_500, 100_000];
/** Embedded mode sweeps expired markers every 60 s (services/embedded/src/main.ts). */
const SWEEP_S = 60;
const GOAL_DEDUPE_BYTES = 10;
const GOAL_START_RATIO = 1.5;

const log = (line: string) => console.log(line);
const num = (n: number, digits = 0) =>
  n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${num(bytes / 1024 / 1024, 1)} MB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const sum = (c: Census, kinds: Array<keyof Census>) => kinds.reduce((s, k) => s + c[k].bytes, 0);
const COUNTING: Array<keyof Census> = ["counter", "budget", "rate", "holds"];
const DEDUPE: Array<keyof Census> = ["positions", "marker"];

function printRedis(r: RedisFigures): void {
  console.log("");
  console.log(
    `Redis: prefix ${r.prefix}, dedupe window ${r.windowS} s, ${num(r.eventsPerS)} events/s counted; ` +
      "bytes = MEMORY USAGE <key> SAMPLES 0 summed over the prefix's keys (SCAN), once no marker was left",
  );
  console.log(
    `${"events".padStart(10)}${"counting".padStart(12)}${"B/event".padStart(9)}${"dedupe".padStart(10)}${"B/event".padStart(9)}` +
      `${"keys: ctr".padStart(11)}${"budget".padStart(8)}${"rate".padStart(7)}${"pos".padStart(5)}${"sessions".padStart(10)}`,
  );
  for (const c of r.checkpoints) {
    const counting = sum(c.census, COUNTING);
    const dedupe = sum(c.census, DEDUPE);
    console.log(
      `${num(c.events).padStart(10)}${mb(counting).padStart(12)}${num(counting / c.events, 1).padStart(9)}` +
        `${`${num(dedupe)} B`.padStart(10)}${num(dedupe / c.events, 4).padStart(9)}` +
        `${num(c.census.counter.keys).padStart(11)}${num(c.census.budget.keys).padStart(8)}${num(c.census.rate.keys).padStart(7)}` +
        `${String(c.census.positions.keys).padStart(5)}${num(c.sessions).padStart(10)}`,
    );
  }
  const last = r.checkpoints.at(-1) as Checkpoint;
  const per = (k: keyof Census) => (last.census[k].keys ? last.census[k].bytes / last.census[k].keys : 0);
  console.log(
    `per key: counter ${num(per("counter"))} B, budget bucket ${num(per("budget"))} B, rate slice ${num(per("rate"))} B, ` +
      `positions hash ${num(per("positions"))} B`,
  );
  for (const c of r.checkpoints) {
    const scopes = Object.entries(c.counterScopes).sort((a, b) => b[1].bytes - a[1].bytes);
    console.log(
      `counters by scope at ${num(c.events)}: ` +
        scopes.map(([scope, { keys, bytes }]) => `${scope} ${num(keys)} (${mb(bytes)})`).join(", "),
    );
  }
  const dedupePerEvent = sum(last.census, DEDUPE) / last.events;
  const first = r.checkpoints[0] as Checkpoint;
  console.log(
    `dedupe state after the window: ${num(sum(first.census, DEDUPE))} B at ${num(first.events)} events, ` +
      `${num(sum(last.census, DEDUPE))} B at ${num(last.events)}; ${num(dedupePerEvent, 4)} B/event ` +
      `(goal ≤ ${GOAL_DEDUPE_BYTES}: ${dedupePerEvent <= GOAL_DEDUPE_BYTES ? "met" : "MISSED"})`,
  );
  const usage = last.aliveMarkers.bytes / last.aliveMarkers.keys;
  console.log(
    `a marker: ${num(usage)} B by MEMORY USAGE (${num(last.aliveMarkers.keys)} alive after the last batch), ` +
      `${num(r.markerBytes)} B in all (used_memory around 100,000 more: expires entry and dict slots included)`,
  );
  console.log(`markers at the default ${MODEL_WINDOW_S} s window (rate × window alive, × ${num(r.markerBytes)} B):`);
  for (const rate of RATES_PER_MIN) {
    const alive = (rate / 60) * MODEL_WINDOW_S;
    console.log(`  ${num(rate).padStart(8)} events/min: ${num(alive)} markers, ${mb(alive * r.markerBytes)}`);
  }
}

function printMemory(m: MemoryFigures): void {
  console.log("");
  console.log(`Memory ledger (embedded mode), ${num(m.events)} events: V8 heap after a full GC`);
  console.log(
    `  ${num(m.bytesPerMarker)} B per marker, ${num(m.bytesPerBucket)} B per bucket (${num(m.buckets)} buckets: totals, budget buckets, rate slices)`,
  );
  console.log(
    `  markers at the default ${MODEL_WINDOW_S} s window (rate × (window + ${SWEEP_S} s sweep) alive at most):`,
  );
  for (const rate of RATES_PER_MIN) {
    const alive = (rate / 60) * (MODEL_WINDOW_S + SWEEP_S);
    console.log(`  ${num(rate).padStart(8)} events/min: ${num(alive)} markers, ${mb(alive * m.bytesPerMarker)}`);
  }
}

function printStarts(starts: Starts): void {
  const row = (name: string, runs: StartFigures[]) => {
    const ready = median(runs.map((r) => r.readyS));
    const rss = median(runs.map((r) => r.rssMb));
    const hwm = median(runs.map((r) => r.hwmMb));
    console.log(
      `${name.padEnd(30)}${`${num(ready, 2)} s`.padStart(9)}${`${num(rss)} MB`.padStart(9)}${`${num(hwm)} MB`.padStart(9)}` +
        `   ${runs.map((r) => num(r.readyS, 2)).join(" / ")} s; ${runs[0]?.rebuilt}`,
    );
    return { ready, rss };
  };
  console.log("");
  console.log(
    `Embedded start (${from === "dist" ? `dist/, plain node, ${distAge()}` : "sources under tsx"}), ` +
      `median of ${starts.empty.length}; ready = spawn to /readyz 200, VmRSS then, VmHWM = the start's peak`,
  );
  console.log(
    `${"data dir".padEnd(30)}${"ready".padStart(9)}${"VmRSS".padStart(9)}${"VmHWM".padStart(9)}   runs; rebuild`,
  );
  const e = row("empty (first start)", starts.empty);
  const m = row("migrated, budgets, 0 events", starts.migrated);
  const s = row(`${num(events)} events, 2 months ago`, starts.stored);
  for (const [name, base] of [
    ["an empty start", e],
    ["0 stored events", m],
  ] as const) {
    const ratios = [s.ready / base.ready, s.rss / base.rss];
    console.log(
      `vs ${name}: start ${num(ratios[0] as number, 2)}×, RSS ${num(ratios[1] as number, 2)}× ` +
        `(goal ≤ ${GOAL_START_RATIO}×: ${ratios.every((r) => r <= GOAL_START_RATIO) ? "met" : "MISSED"})`,
    );
  }
}

interface Starts {
  empty: StartFigures[];
  migrated: StartFigures[];
  stored: StartFigures[];
}

console.log(`Node ${process.version}, ${events.toLocaleString("en")} events`);
const redisFigures = only.has("redis")
  ? await measureRedis({
      redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      events,
      checkpoints: [checkpoint],
      windowS,
      chunk: Number(args.chunk),
      concurrency: Number(args.concurrency),
      log,
    })
  : null;
const memoryFigures = only.has("memory")
  ? await measureMemoryLedger({ events: Number(args["memory-events"]), windowS, chunk: Number(args.chunk), log })
  : null;
const starts: Starts = { empty: [], migrated: [], stored: [] };
if (only.has("embedded")) {
  const migrated = await storedDataDir(0, log);
  const stored = await storedDataDir(events, log);
  // Alternating, so a busy minute of the shared machine hurts each alike.
  for (let run = 0; run < Number(args.runs); run++) {
    starts.empty.push(await measureStart(null, from));
    starts.migrated.push(await measureStart(migrated, from));
    starts.stored.push(await measureStart(stored, from));
    const last = (runs: StartFigures[]) => num(runs.at(-1)?.readyS ?? 0, 2);
    log(
      `  embedded: start ${run + 1}: empty ${last(starts.empty)} s, 0 events ${last(starts.migrated)} s, ` +
        `stored ${last(starts.stored)} s`,
    );
  }
}

if (redisFigures) printRedis(redisFigures);
if (memoryFigures) printMemory(memoryFigures);
if (starts.empty.length > 0) printStarts(starts);
