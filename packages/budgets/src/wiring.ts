import type { KeyBuilder } from "@tollgate/counters";
import type { Logger } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";
import { type DecisionLog, decisionRecordOf } from "./decision-log";
import type { Budget } from "./definition";
import { type BudgetEngine, createBudgetEngine } from "./engine";
import type { Grant, TierAssignment } from "./grants";
import type { Ledger } from "./ledger";

/** The budget engine both modes run; the ledger decides Redis or memory. */
export function budgetEngineFor(deps: {
  budgets: { all(): Budget[] };
  grants: { all(): Grant[] };
  tiers: { get(id: string): TierAssignment | undefined };
  ledger: Ledger;
  keys: KeyBuilder;
  prices: PriceTable;
  env: {
    TOLLGATE_FAILURE_POLICY: "open" | "closed";
    TOLLGATE_RESERVATION_TTL_SECONDS: number;
    /** Where events are counted (aggregator, embedded mode). */
    TOLLGATE_DEDUPE_WINDOW_SECONDS?: number;
  };
  /** Distributed mode: whether Redis holds complete counters (see the aggregator's rebuild guard). */
  trusted?: () => boolean;
  logger?: Logger;
  clock?: () => number;
  /** Where checks that were not a plain allow are recorded (decision-log.ts). */
  decisions?: DecisionLog;
}): BudgetEngine {
  // A Redis outage fails every check: say so in the log at most once a second, not per check.
  let lastToldMs = 0;
  const onLedgerFailure = (err: unknown) => {
    const now = Date.now();
    if (now - lastToldMs < 1_000) return;
    lastToldMs = now;
    deps.logger?.warn({ err }, "budget counters unavailable; deciding by the failure policy");
  };
  const decisions = deps.decisions;
  return createBudgetEngine({
    budgets: deps.budgets,
    grants: deps.grants,
    tiers: deps.tiers,
    ledger: deps.ledger,
    keys: deps.keys,
    price: (model, input, output) => {
      const cost = deps.prices.cost(model, {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: 0,
        cache_creation_input_tokens: 0,
        reasoning_tokens: 0,
      });
      return cost.known ? cost.cost_micro_usd : null;
    },
    reservationTtlMs: deps.env.TOLLGATE_RESERVATION_TTL_SECONDS * 1000,
    failurePolicy: deps.env.TOLLGATE_FAILURE_POLICY,
    ...(deps.env.TOLLGATE_DEDUPE_WINDOW_SECONDS ? { dedupeWindowS: deps.env.TOLLGATE_DEDUPE_WINDOW_SECONDS } : {}),
    onLedgerFailure,
    ...(decisions
      ? {
          onDecision: ({ subject, request, result, budgetId, nowMs }) => {
            const record = decisionRecordOf(subject, result, request.model, budgetId, nowMs);
            if (record) decisions.record(record);
          },
        }
      : {}),
    ...(deps.trusted ? { trusted: deps.trusted } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
}
