import { authenticate, type KeyStore, keysRouter, requireRole } from "@tollgate/auth";
import {
  type BudgetEngine,
  type BudgetStore,
  budgetEngineFor,
  createMemoryDecisionLog,
  type DecisionLog,
  type GrantStore,
  type Ledger,
  type TierStore,
} from "@tollgate/budgets";
import { type CounterStore, createCounterStore, type KeyBuilder } from "@tollgate/counters";
import { type DirectRoute, type Logger, serveOpenApi } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";
import { type WebhookParts, webhooksRouter } from "@tollgate/webhooks";
import express, { type Router } from "express";
import { enforcementOpenApi } from "./api";
import { budgetsRouter } from "./budgets-route";
import { checkDirectRoute, checkMiddleware, checkRoute, releaseRoute } from "./check-route";
import { decisionsRouter } from "./decisions-route";
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
  /** Recent non-allow decisions (GET /v1/decisions/recent); an empty one when absent. */
  decisions?: DecisionLog;
}

/** What /v1/check needs from the price table, in both of its routes. */
function checkOptions(prices: PriceTable | undefined) {
  return prices ? { outputLimit: (model: string, provider?: string) => prices.maxOutputTokens(model, provider) } : {};
}

export { budgetEngineFor } from "@tollgate/budgets";
export { budgetEngineEnvShape } from "./env";

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
  // The document of exactly these routes (api.ts; api.test.ts holds the two together). Any valid key reads it (docs/api.md).
  const webhooks = deps.webhooks !== undefined;
  router.get(
    "/openapi.json",
    authenticate(deps.keys),
    serveOpenApi(() => enforcementOpenApi({ webhooks })),
  );
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
  router.use(
    decisionsRouter({
      keys: deps.keys,
      decisions: deps.decisions ?? createMemoryDecisionLog(),
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.clock ? { clock: deps.clock } : {}),
    }),
  );
  router.get(
    "/v1/usage",
    authenticate(deps.keys),
    requireRole("agent", "viewer"),
    usageRoute(deps.counters, deps.engine, deps.clock, deps.logger),
  );
  return router;
}

/** What enforcement is given; the ledger (Redis or memory) decides the mode. */
export interface EnforcementStores {
  ledger: Ledger;
  redisKeys: KeyBuilder;
  keys: KeyStore;
  budgets: BudgetStore;
  grants: GrantStore;
  tiers: TierStore;
  webhooks?: WebhookParts & { scheduled?: () => void };
  /**
   * Where non-allow decisions are recorded: Redis in distributed mode (every
   * instance's in one place), memory in embedded mode; memory when absent.
   */
  decisions?: DecisionLog;
}

export interface Enforcement {
  /** The Express routes (admin APIs, usage, check with any body). */
  router: Router;
  /** The fast routes served ahead of Express (plain JSON checks); give both to withDirectRoutes. */
  direct: DirectRoute[];
  engine: BudgetEngine;
}

/**
 * Enforcement, the same in both modes: the budget engine built one way
 * (budgetEngineFor) over the ledger it is given, its running totals read
 * from the same ledger, and every route. Both main.ts and embedded mode
 * call it; only the stores differ.
 */
export function createEnforcement(deps: {
  stores: EnforcementStores;
  prices: PriceTable;
  env: Parameters<typeof budgetEngineFor>[0]["env"];
  /** Distributed mode: whether Redis holds complete counters (see the aggregator's rebuild guard). */
  trusted?: () => boolean;
  logger: Logger;
  clock?: () => number;
}): Enforcement {
  const { stores } = deps;
  const decisions = stores.decisions ?? createMemoryDecisionLog();
  const engine = budgetEngineFor({
    budgets: stores.budgets,
    grants: stores.grants,
    tiers: stores.tiers,
    ledger: stores.ledger,
    keys: stores.redisKeys,
    prices: deps.prices,
    env: deps.env,
    logger: deps.logger,
    decisions,
    ...(deps.trusted ? { trusted: deps.trusted } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const routeDeps: EnforcementDeps = {
    counters: createCounterStore(stores.ledger, stores.redisKeys),
    keys: stores.keys,
    budgets: stores.budgets,
    grants: stores.grants,
    tiers: stores.tiers,
    engine,
    logger: deps.logger,
    prices: deps.prices,
    decisions,
    ...(stores.webhooks ? { webhooks: stores.webhooks } : {}),
    ...(deps.clock ? { clock: deps.clock } : {}),
  };
  return { router: createEnforcementRouter(routeDeps), direct: enforcementDirectRoutes(routeDeps), engine };
}
