import type { UsageBatchHandler } from "@tollgate/bus";
import type { CounterStore } from "@tollgate/counters";

/**
 * The aggregator's work, the same in both modes: add each event to its
 * counters. The store's event_id guard makes a replayed batch (crash before
 * the offset commit, rebalance, producer retry) a no-op.
 */
export function createAggregatorHandler(counters: CounterStore): UsageBatchHandler {
  return async (events) => {
    // Independent events: issued together, ioredis pipelines them.
    await Promise.all(events.map((event) => counters.apply(event)));
  };
}
