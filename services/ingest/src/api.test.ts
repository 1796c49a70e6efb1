import type { KeyStore } from "@tollgate/auth";
import type { UsagePublisher } from "@tollgate/bus";
import { createLogger } from "@tollgate/kit";
import { describeOpenApi, openApiTestKeys } from "@tollgate/kit/openapi-testing";
import type { PriceTable } from "@tollgate/pricing";
import { ingestOpenApi } from "./api";
import { createIngestRoutes } from "./service";

describeOpenApi(
  "ingest",
  (app) => {
    const ingest = createIngestRoutes({
      publisher: {} as UsagePublisher,
      keys: openApiTestKeys as unknown as KeyStore,
      prices: {} as PriceTable,
      logger: createLogger("ingest-openapi-test", "silent"),
      limits: {
        INGEST_BODY_LIMIT_BYTES: 1_000_000,
        INGEST_MAX_BATCH: 1_000,
        INGEST_MAX_IN_FLIGHT: 8,
        INGEST_PUBLISH_TIMEOUT_MS: 5_000,
      },
    });
    app.use(ingest.router);
    return ingest.direct;
  },
  ingestOpenApi,
);
