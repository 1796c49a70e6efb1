import { randomBytes } from "node:crypto";
import { createRedisLedger } from "@tollgate/budgets";
import { createKeyBuilder } from "@tollgate/counters";
import { createLogger } from "@tollgate/kit";
import { Redis } from "ioredis";
import { aggregatorOver } from "../../test/support/aggregator";
import { type Batch, fleetBudgets, fleetStream } from "./events";

/** What a key of the run's prefix holds, from its name (packages/counters/src/keys.ts). */
export type KeyKind = "counter" | "budget" | "rate" | "holds" | "positions" | "marker" | "other";
export const KINDS: KeyKind[] = ["counter", "budget", "rate", "holds", "positions", "marker", "other"];

function kindOf(key: string): KeyKind {
  const rest = key.slice(key.indexOf("}:") + 2);
  if (rest.startsWith("ctr:")) return "counter";
  if (rest.startsWith("seen:")) return "marker";
  if (rest === "pos") return "positions";
  if (rest.startsWith("bud:")) {
    if (rest.endsWith(":holds")) return "holds";
    return /^bud:[^:]*(%23|#)rate:/.test(rest) ? "rate" : "budget";
  }
  return "other";
}

/** Per kind: how many keys and the bytes MEMORY USAGE (SAMPLES 0: every field) reports for them. */
export type Census = Record<KeyKind, { keys: number; bytes: number }>;
/** Running-total counters by scope (org, team, project, user, agent, session, feature, model). */
export type ScopeCensus = Record<string, { keys: number; bytes: number }>;

export interface Checkpoint {
  events: number;
  /** Markers alive right after the last batch (the last `window` seconds of events) and their bytes. */
  aliveMarkers: { keys: number; bytes: number };
  /** Seconds from the last batch until SCAN found no marker of the run. */
  markersGoneS: number;
  /** Every key of the run once the markers were gone. */
  census: Census;
  counterScopes: ScopeCensus;
  sessions: number;
}

export interface RedisFigures {
  prefix: string;
  windowS: number;
  eventsPerS: number;
  checkpoints: Checkpoint[];
  /** What one marker costs Redis in all (used_memory, expires entry and dict slots included): see markerCost. */
  markerBytes: number;
}

async function scanKeys(redis: Redis, match: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", match, "COUNT", 2_000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

async function memoryUsage(redis: Redis, keys: string[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < keys.length; i += 1_000) {
    const pipeline = redis.pipeline();
    for (const key of keys.slice(i, i + 1_000)) pipeline.call("MEMORY", "USAGE", key, "SAMPLES", "0");
    for (const [err, bytes] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      out.push(Number(bytes ?? 0)); // null: expired between SCAN and MEMORY USAGE
    }
  }
  return out;
}

async function census(redis: Redis, prefix: string): Promise<{ census: Census; counterScopes: ScopeCensus }> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  const bytes = await memoryUsage(redis, keys);
  const out = Object.fromEntries(KINDS.map((k) => [k, { keys: 0, bytes: 0 }])) as Census;
  const scopes: ScopeCensus = {};
  keys.forEach((key, i) => {
    const kind = kindOf(key);
    out[kind].keys++;
    out[kind].bytes += bytes[i] ?? 0;
    if (kind === "counter") {
      const scope = key.slice(key.indexOf("}:ctr:") + 6).split(":")[0] as string;
      const entry = scopes[scope] ?? { keys: 0, bytes: 0 };
      scopes[scope] = entry;
      entry.keys++;
      entry.bytes += bytes[i] ?? 0;
    }
  });
  return { census: out, counterScopes: scopes };
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
}

/**
 * Counts `events` events through the aggregator's own handler (createAggregator,
 * Redis ledger, positions as the Kafka consumer passes them, `chunk` a batch)
 * under a fresh key prefix with a `windowS` dedupe window; at each checkpoint
 * waits until SCAN finds no marker of the run, then sums MEMORY USAGE over the
 * prefix's keys by kind. Deletes the prefix's keys at the end, whatever happened.
 */
export async function measureRedis(opts: {
  redisUrl: string;
  events: number;
  checkpoints: number[];
  windowS: number;
  chunk: number;
  concurrency: number;
  log: (line: string) => void;
}): Promise<RedisFigures> {
  const redis = new Redis(opts.redisUrl);
  const prefix = `tgcap${randomBytes(5).toString("hex")}`;
  const keys = createKeyBuilder(prefix);
  const ledger = createRedisLedger(redis, keys);
  const budgets = fleetBudgets(Date.now());
  const { handle } = aggregatorOver(ledger, {
    keys,
    budgets,
    dedupeWindowS: opts.windowS,
    logger: createLogger("capacity-bench", "silent"),
  });
  // Today's time, so every counter and budget window is open (the day's and month's buckets).
  const stream = fleetStream(18, () => Date.now());
  const checkpoints: Checkpoint[] = [];
  let countingMs = 0;
  try {
    let counted = 0;
    const stops = [...new Set([...opts.checkpoints, opts.events])]
      .filter((n) => n <= opts.events)
      .sort((a, b) => a - b);
    for (const stop of stops) {
      const started = performance.now();
      while (counted < stop) {
        // `concurrency` batches at once, each of another partition (the consume loop's
        // partitionsConsumedConcurrently): a partition's batches still count in order.
        const wave: Batch[] = [];
        for (let i = 0, left = stop - counted; i < opts.concurrency && left > 0; i++) {
          wave.push(stream.next(Math.min(opts.chunk, left)));
          left -= wave.at(-1)?.events.length ?? 0;
        }
        await Promise.all(wave.map((b) => handle(b.events, b.positions)));
        const before = counted;
        counted += wave.reduce((sum, b) => sum + b.events.length, 0);
        if (Math.floor(counted / 100_000) > Math.floor(before / 100_000)) {
          const rate = (counted - (checkpoints.at(-1)?.events ?? 0)) / ((performance.now() - started) / 1000);
          opts.log(`  redis: ${counted.toLocaleString("en")} events counted (${Math.round(rate)} events/s)`);
        }
      }
      const lastBatchMs = performance.now();
      countingMs += lastBatchMs - started;
      const alive = await scanKeys(redis, keys.seenEvent("*", "*"));
      const aliveBytes = (await memoryUsage(redis, alive)).reduce((a, b) => a + b, 0);
      // Markers live `windowS` seconds: wait for SCAN (which drops expired keys it meets) to find none.
      const deadline = performance.now() + opts.windowS * 1000 + 60_000;
      while ((await scanKeys(redis, keys.seenEvent("*", "*"))).length > 0) {
        if (performance.now() > deadline)
          throw new Error(`seen-markers still alive ${opts.windowS + 60} s after the last batch`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const markersGoneS = (performance.now() - lastBatchMs) / 1000;
      checkpoints.push({
        events: counted,
        aliveMarkers: { keys: alive.length, bytes: aliveBytes },
        markersGoneS,
        ...(await census(redis, prefix)),
        sessions: stream.sessions(),
      });
      opts.log(
        `  redis: checkpoint at ${counted.toLocaleString("en")} events (markers gone after ${markersGoneS.toFixed(1)} s)`,
      );
    }
    const markerBytes = await markerCost(redis, (id) => keys.seenEvent(keys.tenant("acme"), id));
    return { prefix, windowS: opts.windowS, eventsPerS: counted / (countingMs / 1000), checkpoints, markerBytes };
  } finally {
    for (const batch of chunks(await scanKeys(redis, `${prefix}:*`), 1_000)) await redis.unlink(...batch);
    redis.disconnect();
  }
}

/**
 * MEMORY USAGE counts a key, its value and its entry in the keyspace, not
 * its entry in the expires dict nor the dicts' bucket slots; so a marker's
 * whole cost is read from INFO used_memory around 100,000 markers of the
 * same shape (SET NX EX, as COUNT_LUA writes them), pipelined: the median of
 * three rounds, since other clients of this Redis move used_memory too.
 */
async function markerCost(redis: Redis, markerKey: (eventId: string) => string): Promise<number> {
  const n = 100_000;
  const rounds: number[] = [];
  for (let round = 0; round < 3; round++) {
    const ids = Array.from({ length: n }, () => {
      const h = randomBytes(16).toString("hex");
      return markerKey(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`);
    });
    const before = await usedMemory(redis);
    for (const batch of chunks(ids, 5_000)) {
      const pipeline = redis.pipeline();
      for (const key of batch) pipeline.set(key, "1", "EX", 600, "NX");
      await pipeline.exec();
    }
    rounds.push(((await usedMemory(redis)) - before) / n);
    for (const batch of chunks(ids, 5_000)) await redis.unlink(...batch);
  }
  return rounds.sort((a, b) => a - b)[1] as number;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
