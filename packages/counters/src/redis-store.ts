import type { UsageEvent } from "@tollgate/events";
import type { Redis, Result } from "ioredis";
import type { KeyBuilder } from "./keys";
import {
  assembleTotals,
  eventCounterTargets,
  eventIncrements,
  type IdentityQuery,
  TOTAL_FIELDS,
  type Totals,
  totalsReads,
} from "./metrics";
import { type CounterStore, SEEN_EVENT_TTL_SECONDS } from "./store";

/**
 * KEYS[1]   = the event's seen-marker key
 * KEYS[2..] = the counter hashes to increment (one tenant: same hash slot)
 * ARGV[1]   = seen-marker TTL (s)
 * ARGV[2..6]= increments of tokens, input_tokens, output_tokens, cost_micro_usd, requests
 * ARGV[7..] = TTL (s) of each counter key, in KEYS order
 * Returns 1 when applied, 0 when the event was applied before.
 *
 * One script, so the marker and the increments land together or not at all:
 * a crash cannot leave an event counted but unmarked (double count on replay)
 * or marked but uncounted (lost).
 */
const APPLY_USAGE_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then
  return 0
end
local fields = {'tokens', 'input_tokens', 'output_tokens', 'cost_micro_usd', 'requests'}
for i = 2, #KEYS do
  for f = 1, 5 do
    local delta = tonumber(ARGV[1 + f])
    if delta ~= 0 then redis.call('HINCRBY', KEYS[i], fields[f], delta) end
  end
  redis.call('EXPIRE', KEYS[i], ARGV[5 + i])
end
return 1
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    tollgateApplyUsage(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
  }
}

export function createRedisCounterStore(redis: Redis, keys: KeyBuilder): CounterStore {
  // defineCommand is idempotent per client; the script is sent once, then run by SHA.
  redis.defineCommand("tollgateApplyUsage", { lua: APPLY_USAGE_LUA });

  return {
    async apply(event: UsageEvent) {
      const targets = eventCounterTargets(keys, event);
      const inc = eventIncrements(event);
      const tenant = keys.tenant(event.org_id);
      const applied = await redis.tollgateApplyUsage(
        1 + targets.length,
        keys.seenEvent(tenant, event.event_id),
        ...targets.map((t) => t.key),
        SEEN_EVENT_TTL_SECONDS,
        ...TOTAL_FIELDS.map((field) => inc[field]),
        ...targets.map((t) => t.ttlSeconds),
      );
      return applied === 1;
    },
    async totals(query: IdentityQuery, nowMs: number) {
      const reads = totalsReads(keys, query, nowMs);
      if (reads.length === 0) return {};
      const pipeline = redis.pipeline();
      for (const read of reads) pipeline.hmget(read.key, ...TOTAL_FIELDS);
      const replies = (await pipeline.exec()) ?? [];
      const values = replies.map(([err, reply]) => {
        if (err) throw err;
        const fields = reply as Array<string | null>;
        return Object.fromEntries(TOTAL_FIELDS.map((f, i) => [f, Number(fields[i] ?? 0)])) as unknown as Totals;
      });
      return assembleTotals(reads, values);
    },
    async ping() {
      await redis.ping();
    },
  };
}

/**
 * Whether the counters in Redis are complete (see the aggregator's rebuild
 * guard): every partition of the usage topic marked in the counters-state
 * hash. Polled, not read per decision: a check costs no extra round trip,
 * and a loss is noticed within `intervalMs`.
 */
export function watchCountersState(
  redis: Redis,
  keys: KeyBuilder,
  intervalMs = 500,
): { complete(): boolean; refresh(): Promise<void>; stop(): void } {
  let complete = false;
  const refresh = async () => {
    try {
      const state = await redis.hgetall(keys.countersState());
      const partitions = Number(state.partitions ?? "0");
      let all = partitions > 0;
      for (let p = 0; all && p < partitions; p++) all = state[`p${p}`] !== undefined;
      complete = all;
    } catch {
      complete = false; // unreachable: the ledger calls fail too, and the failure policy answers
    }
  };
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  void refresh();
  return { complete: () => complete, refresh, stop: () => clearInterval(timer) };
}
