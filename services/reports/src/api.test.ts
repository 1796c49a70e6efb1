import type { KeyStore } from "@tollgate/auth";
import { describeOpenApi, openApiTestKeys } from "@tollgate/kit/openapi-testing";
import type { SqlStore } from "@tollgate/sql";
import { reportsOpenApi } from "./api";
import { createReportsRouter } from "./service";

describeOpenApi(
  "reports",
  (app) => {
    app.use(createReportsRouter({ store: {} as SqlStore, keys: openApiTestKeys as unknown as KeyStore }));
    return [];
  },
  reportsOpenApi,
);
