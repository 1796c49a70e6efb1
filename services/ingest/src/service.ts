import { authenticate, createGate, type KeyStore } from "@tollgate/auth";
import type { UsagePublisher } from "@tollgate/bus";
import type { PriceFn } from "@tollgate/events";
import { type DirectRoute, type Logger, serveOpenApi } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";
import express, { type Router } from "express";
import { createAdmission } from "./admission";
import { ingestOpenApi } from "./api";
import type { IngestLimits } from "./env";
import { eventsDirectRoute, eventsRoute } from "./events-route";
import { refuseOtlp, tracesDirectRoute, tracesRoute } from "./traces-route";

export { type IngestLimits, ingestLimitsEnvShape } from "./env";

export interface IngestDeps {
  publisher: UsagePublisher;
  keys: KeyStore;
  prices: PriceTable;
  logger: Logger;
  limits: IngestLimits;
  clock?: () => number;
}

/**
 * Ingest's routes, the same in both modes; the publisher decides where
 * events go. `direct` are served ahead of Express (withDirectRoutes) and
 * share the router's admission gate.
 */
export function createIngestRoutes(deps: IngestDeps): { router: Router; direct: DirectRoute[] } {
  const router = express.Router();
  const price: PriceFn = (model, provider, tokens) => {
    const result = deps.prices.cost(model, tokens, provider ?? undefined);
    return result.known ? { cost_micro_usd: result.cost_micro_usd, estimated: result.estimated } : null;
  };
  const common = {
    publisher: deps.publisher,
    price,
    logger: deps.logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
    bodyLimitBytes: deps.limits.INGEST_BODY_LIMIT_BYTES,
    publishTimeoutMs: deps.limits.INGEST_PUBLISH_TIMEOUT_MS,
  };
  // One admission for both routes (they share the process's memory and the
  // bus), behind one gate: key → role → admission, on the direct and the Express path.
  const admission = createAdmission(deps.limits.INGEST_MAX_IN_FLIGHT);
  const gate = createGate({ keys: deps.keys, roles: ["agent"], admit: admission.enter });

  const events = { ...common, maxBatch: deps.limits.INGEST_MAX_BATCH };
  router.post("/v1/events", ...gate.middleware(), ...eventsRoute(events));
  router.post(
    "/v1/traces",
    ...gate.middleware((req, res) => refuseOtlp(res, req.get("content-type"))),
    ...tracesRoute(common),
  );
  // The document of these routes (api.ts; api.test.ts holds the two together). Any valid key reads it (docs/api.md).
  router.get("/openapi.json", authenticate(deps.keys), serveOpenApi(ingestOpenApi));
  return {
    router,
    direct: [eventsDirectRoute(events, gate), tracesDirectRoute(common, gate)],
  };
}
