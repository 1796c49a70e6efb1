import { type AlertRecord, type BudgetEngine, budgetEngineFor, type Ledger } from "@tollgate/budgets";
import type { UsageBatchHandler } from "@tollgate/bus";
import type { KeyBuilder } from "@tollgate/counters";
import type { Logger } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";

/** What the aggregator is given; the stores decide the mode (Redis or memory ledger). */
export interface AggregatorDeps {
  ledger: Ledger;
  keys: KeyBuilder;
  /** Definitions, as loaded by BudgetStore, GrantStore and TierStore (grants count in alert thresholds). */
  budgets: Parameters<typeof budgetEngineFor>[0]["budgets"];
  grants: Parameters<typeof budgetEngineFor>[0]["grants"];
  tiers: Parameters<typeof budgetEngineFor>[0]["tiers"];
  prices: PriceTable;
  env: { TOLLGATE_DEDUPE_WINDOW_SECONDS: number };
  /** Where alerts go: the alerts topic (distributed), the log and the webhook schedule (embedded). */
  publishAlerts?: (alerts: AlertRecord[]) => Promise<void>;
  logger: Logger;
}

export interface Aggregator {
  /** The consumer's batch handler (Kafka group tollgate-aggregator, or the embedded bus). */
  handle: UsageBatchHandler;
  /** The engine that counts: the rebuilds (Redis loss, embedded start) count through it too. */
  engine: BudgetEngine;
}

/**
 * The aggregator, the same in both modes: count each event — its running
 * totals and every budget it belongs to, settling the reservation it names
 * — through the one counting path (BudgetEngine.count: one atomic step per
 * event). A replayed batch — crash before the offset commit, rebalance — is
 * recognised by its log positions; a report sent twice by its event_id
 * within the dedupe window: either is a no-op.
 *
 * Then, where `publishAlerts` is given, the thresholds the batch's budgets
 * reached and their exhaustion forecasts go out as alerts (see
 * BudgetEngine.alerts): before the offset commit, so a crash in between
 * sends them again rather than never.
 */
export function createAggregator(deps: AggregatorDeps): Aggregator {
  const engine = budgetEngineFor({
    ...deps,
    // Counting only: no check is decided here, so no failure policy or reservations of its own.
    env: { ...deps.env, TOLLGATE_FAILURE_POLICY: "closed", TOLLGATE_RESERVATION_TTL_SECONDS: 1 },
  });
  return { engine, handle: createAggregatorHandler(engine, deps.publishAlerts) };
}

export { startUnsettledSweep } from "./unsettled";

/** The batch handler alone, over any engine (fault tests give it a broken one). */
export function createAggregatorHandler(
  engine: Pick<BudgetEngine, "count" | "alerts">,
  publishAlerts?: (alerts: AlertRecord[]) => Promise<void>,
): UsageBatchHandler {
  return async (events, positions) => {
    await engine.count(events.map((event, i) => ({ event, position: positions?.[i] ?? null })));
    if (publishAlerts) await engine.alerts(events, publishAlerts);
  };
}
