import type { BudgetEngine } from "@tollgate/budgets";
import type { UsageBatchHandler } from "@tollgate/bus";
import type { CounterStore } from "@tollgate/counters";

/**
 * The aggregator's work, the same in both modes: add each event to its
 * running totals and to every budget it belongs to, settling the
 * reservation it names. Each store's event_id guard (set in the same atomic
 * step as the increments) makes a replayed batch — crash before the offset
 * commit, rebalance, producer retry — a no-op.
 */
export function createAggregatorHandler(
  counters: CounterStore,
  budgets: Pick<BudgetEngine, "applyEvent">,
): UsageBatchHandler {
  return async (events) => {
    // Independent events: issued together, ioredis pipelines them.
    await Promise.all(events.flatMap((event) => [counters.apply(event), budgets.applyEvent(event)]));
  };
}
