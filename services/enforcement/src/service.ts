import { authenticate, type KeyStore, keysRouter, requireRole } from "@tollgate/auth";
import {
  type BudgetEngine,
  type BudgetStore,
  createBudgetEngine,
  type GrantStore,
  type Ledger,
  type TierStore,
} from "@tollgate/budgets";
import type { CounterStore, KeyBuilder } from "@tollgate/counters";
import type { DirectRoute, Logger } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";
import { type WebhookParts, webhooksRouter } from "@tollgate/webhooks";
import express, { type Router } from "express";
import { budgetsRouter } from "./budgets-route";
import { checkDirectRoute, checkMiddleware, checkRoute, releaseRoute } from "./check-route";
import { usageRoute } from "./usage-route";

export interface EnforcementDeps {
  counters: CounterStore;
  keys: KeyStore;
  budgets: BudgetStore;
  grants: GrantStore;
  tiers: TierStore;
  engine: BudgetEngine;
  /** Where failures whose text must not reach clients are told. */
  logger?: Logger;
  clock?: () => number;
  /** The webhooks API; `scheduled` tells an in-process dispatcher (embedded mode) to send at once. */
  webhooks?: WebhookParts & { scheduled?: () => void };
  /** The price table: a check that sends its prompt without max_output_tokens holds the model's output limit. */
  prices?: PriceTable;
}

/** What /v1/check needs from the price table, in both of its routes. */
function checkOptions(prices: PriceTable | undefined) {
  return prices ? { outputLimit: (model: string, provider?: string) => prices.maxOutputTokens(model, provider) } : {};
}

export { budgetEngineEnvShape } from "./env";

/** The budget engine both modes run; the ledger decides Redis or memory. */
export function budgetEngineFor(deps: {
  budgets: BudgetStore;
  grants: GrantStore;
  tiers: TierStore;
  ledger: Ledger;
  keys: KeyBuilder;
  prices: PriceTable;
  env: { TOLLGATE_FAILURE_POLICY: "open" | "closed"; TOLLGATE_RESERVATION_TTL_SECONDS: number };
  /** Distributed mode: whether Redis holds complete counters (see the aggregator's rebuild guard). */
  trusted?: () => boolean;
  logger?: Logger;
  clock?: () => number;
}): BudgetEngine {
  // A Redis outage fails every check: say so in the log at most once a second, not per check.
  let lastToldMs = 0;
  const onLedgerFailure = (err: unknown) => {
    const now = Date.now();
    if (now - lastToldMs < 1_000) return;
    lastToldMs = now;
    deps.logger?.warn({ err }, "budget counters unavailable; deciding by the failure policy");
  };
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
    onLedgerFailure,
    ...(deps.trusted ? { trusted: deps.trusted } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
}

/**
 * The routes served ahead of Express (see DirectRoute), the same in both
 * modes: pass them to withDirectRoutes with the app of createEnforcementRouter.
 */
export function enforcementDirectRoutes(deps: Pick<EnforcementDeps, "engine" | "keys" | "prices">): DirectRoute[] {
  return [checkDirectRoute(deps.engine, deps.keys, checkOptions(deps.prices))];
}

/** Enforcement's routes, the same in both modes; the stores decide Redis or memory. */
export function createEnforcementRouter(deps: EnforcementDeps): Router {
  const router = express.Router();
  // The hot path first: every inference asks /v1/check, so it is matched
  // before the admin routers' layers are walked (plain JSON checks do not
  // even get here: see enforcementDirectRoutes).
  router.post("/v1/check", ...checkMiddleware(deps.keys), checkRoute(deps.engine, checkOptions(deps.prices)));
  router.use(keysRouter(deps.keys));
  router.use(
    budgetsRouter({
      keys: deps.keys,
      budgets: deps.budgets,
      grants: deps.grants,
      tiers: deps.tiers,
      ...(deps.clock ? { clock: deps.clock } : {}),
    }),
  );
  if (deps.webhooks) {
    router.use(webhooksRouter({ keys: deps.keys, ...deps.webhooks, ...(deps.clock ? { clock: deps.clock } : {}) }));
  }
  router.delete(
    "/v1/reservations/:id",
    authenticate(deps.keys),
    requireRole("agent"),
    releaseRoute(deps.engine, deps.logger),
  );
  router.get(
    "/v1/usage",
    authenticate(deps.keys),
    requireRole("agent", "viewer"),
    usageRoute(deps.counters, deps.engine, deps.clock, deps.logger),
  );
  return router;
}
