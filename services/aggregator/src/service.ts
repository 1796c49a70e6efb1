import type { AlertRecord, BudgetEngine } from "@tollgate/budgets";
import type { UsageBatchHandler } from "@tollgate/bus";
import type { CounterStore } from "@tollgate/counters";

/**
 * The aggregator's work, the same in both modes: add each event to its
 * running totals and to every budget it belongs to, settling the
 * reservation it names. Each store's event_id guard (set in the same atomic
 * step as the increments) makes a replayed batch — crash before the offset
 * commit, rebalance, producer retry — a no-op.
 *
 * Then, where `publishAlerts` is given, the thresholds the batch's budgets
 * reached and their exhaustion forecasts go out as alerts (see BudgetEngine.alerts): before the offset
 * commit, so a crash in between sends them again rather than never.
 */
export function createAggregatorHandler(
  counters: CounterStore,
  budgets: Pick<BudgetEngine, "applyEvent" | "alerts">,
  publishAlerts?: (alerts: AlertRecord[]) => Promise<void>,
): UsageBatchHandler {
  return async (events) => {
    // Independent events: issued together, ioredis pipelines them.
    await Promise.all(events.flatMap((event) => [counters.apply(event), budgets.applyEvent(event)]));
    if (publishAlerts) await budgets.alerts(events, publishAlerts);
  };
}
