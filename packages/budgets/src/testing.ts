import { createKeyBuilder } from "@tollgate/counters";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { type Budget, type BudgetInput, budgetInputSchema, toBudget } from "./definition";
import { createBudgetEngine } from "./engine";
import type { Grant } from "./grants";
import type { Ledger } from "./ledger";

/** A budget from API input, as PUT /v1/budgets/{id} would store it (throws on invalid input). */
export function budget(id: string, input: BudgetInput, nowMs = Date.now()): Budget {
  return toBudget(id, budgetInputSchema.parse(input), nowMs, nowMs * 1000);
}

/** An engine over a ledger with a settable clock and a fixed list of budgets (tests of both stores share it). */
export function engineFor(
  ledger: Ledger,
  budgets: Budget[],
  options: { prefix?: string; startMs?: number; grants?: Grant[] } = {},
) {
  const clock = { now: options.startMs ?? Date.parse("2026-11-24T10:00:00Z") };
  const grants = options.grants;
  const engine = createBudgetEngine({
    // A new array each time: the engine keeps an index per array (the stores hand out a new one after a change).
    budgets: { all: () => [...budgets] },
    ...(grants ? { grants: { all: () => [...grants] } } : {}),
    ledger,
    keys: createKeyBuilder(options.prefix ?? "tg"),
    // gpt-4o list prices: 2.5 µUSD per input token, 10 per output token (rounded once).
    price: (model, input, output) => (model === "gpt-4o" ? Math.round(input * 2.5 + output * 10) : null),
    reservationTtlMs: 600_000,
    failurePolicy: "open",
    clock: () => clock.now,
  });
  return { engine, clock };
}

export function usage(overrides: Partial<UsageEvent>): UsageEvent {
  return sampleUsageEvent({ cost_source: "priced", ...overrides });
}
