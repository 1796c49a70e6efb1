import { authenticate, type KeyStore, keysRouter, requireRole } from "@tollgate/auth";
import type { CounterStore } from "@tollgate/counters";
import express, { type Router } from "express";
import { usageRoute } from "./usage-route";

export interface EnforcementDeps {
  counters: CounterStore;
  keys: KeyStore;
  clock?: () => number;
}

/** Enforcement's routes, the same in both modes; the counter store decides Redis or memory. */
export function createEnforcementRouter(deps: EnforcementDeps): Router {
  const router = express.Router();
  router.use(keysRouter(deps.keys));
  router.get(
    "/v1/usage",
    authenticate(deps.keys),
    requireRole("agent", "viewer"),
    usageRoute(deps.counters, deps.clock),
  );
  return router;
}
