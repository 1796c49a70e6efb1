import type { KeyBuilder } from "./keys";
import type { RedisClient } from "./redis-client";

/**
 * Whether the counters in Redis are complete (see the aggregator's rebuild
 * guard): every partition of the usage topic marked in the counters-state
 * hash. Polled, not read per decision: a check costs no extra round trip,
 * and a loss is noticed within `intervalMs`.
 */
export function watchCountersState(
  redis: RedisClient,
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
