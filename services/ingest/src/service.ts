import { authenticate, type KeyStore, requireRole } from "@tollgate/auth";
import type { UsagePublisher } from "@tollgate/bus";
import type { PriceFn } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import type { PriceTable } from "@tollgate/pricing";
import express, { type Router } from "express";
import { eventsRoute } from "./events-route";

export interface IngestDeps {
  publisher: UsagePublisher;
  keys: KeyStore;
  prices: PriceTable;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes?: number;
  maxBatch?: number;
}

/** Ingest's routes, the same in both modes; the publisher decides where events go. */
export function createIngestRouter(deps: IngestDeps): Router {
  const router = express.Router();
  const price: PriceFn = (model, provider, tokens) => {
    const result = deps.prices.cost(model, tokens, provider ?? undefined);
    return result.known ? result.cost_micro_usd : null;
  };
  router.post(
    "/v1/events",
    authenticate(deps.keys),
    requireRole("agent"),
    ...eventsRoute({
      publisher: deps.publisher,
      price,
      logger: deps.logger,
      ...(deps.clock ? { clock: deps.clock } : {}),
      bodyLimitBytes: deps.bodyLimitBytes ?? 1_048_576,
      maxBatch: deps.maxBatch ?? 1_000,
    }),
  );
  return router;
}
