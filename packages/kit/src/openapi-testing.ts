import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { oas31 } from "zod-openapi";
import type { DirectRoute } from "./direct-routes";
import { withDirectRoutes } from "./direct-routes";
import { createHttpApp, finishHttpApp, listen } from "./http";
import { createLogger } from "./logger";
import { documentedRoutes, servedRoutes } from "./openapi";

/** The key the fake key store of `describeOpenApi` takes (any other is refused). */
export const OPENAPI_TEST_KEY = "tga_openapi_test";

/** A key store that knows one viewer key: all that building a router and serving /openapi.json need. */
export const openApiTestKeys = {
  authenticate: async (token: string) =>
    token === OPENAPI_TEST_KEY ? { keyId: "openapi-test", role: "viewer", defaultTags: {}, boundTags: {} } : null,
};

/**
 * The tests every HTTP service's document passes (used by each service's
 * api.test.ts): the routes it serves — Express stack and direct routes, as
 * main.ts and embedded mode assemble them (createHttpApp, the service's
 * router, finishHttpApp) — are exactly the routes its document lists, both
 * ways; the document is valid OpenAPI 3.1; GET /openapi.json serves it to
 * any valid key and refuses a request without one.
 *
 * `mount` adds the service's routes to the app it is given and returns its
 * direct routes. Building a router touches none of its dependencies (they
 * are used per request), so services are built with stand-ins, no engines.
 */
export function describeOpenApi(
  name: string,
  mount: (app: Express) => ReadonlyArray<DirectRoute>,
  document: () => oas31.OpenAPIObject,
): void {
  const logger = createLogger(`${name}-openapi-test`, "silent");
  const build = () => {
    const app = createHttpApp({
      logger,
      isShuttingDown: () => false,
      readiness: [],
      // Every service's main passes its telemetry's handler.
      metricsHandler: (_req, res) => void res.end(),
    });
    const direct = mount(app);
    finishHttpApp(app, logger);
    return { app, direct };
  };

  describe(`${name}'s OpenAPI document`, () => {
    it("lists every route the service serves, and only those", () => {
      const { app, direct } = build();
      const served = servedRoutes(app, direct);
      expect(served).toContain("GET /livez");
      expect(served).toContain("GET /openapi.json");
      expect(documentedRoutes(document()).sort()).toEqual(served);
    });

    it("is a valid OpenAPI 3.1 document", async () => {
      const served = JSON.parse(JSON.stringify(document())) as Record<string, unknown>;
      expect(served.openapi).toBe("3.1.0");
      expect(await new Validator().validate(served)).toEqual({ valid: true });
    });

    describe("GET /openapi.json", () => {
      let server: Server | undefined;
      let base = "";
      beforeAll(async () => {
        const { app, direct } = build();
        server = await listen(withDirectRoutes(app, direct, logger), 0, "127.0.0.1");
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });
      afterAll(() => {
        server?.close();
      });

      it("serves the document to any valid key", async () => {
        const res = await fetch(`${base}/openapi.json`, { headers: { authorization: `Bearer ${OPENAPI_TEST_KEY}` } });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^application\/json/);
        expect(await res.json()).toEqual(JSON.parse(JSON.stringify(document())));
      });

      it("refuses a request without a valid key, like every non-health route", async () => {
        expect((await fetch(`${base}/openapi.json`)).status).toBe(401);
        const wrong = await fetch(`${base}/openapi.json`, { headers: { authorization: "Bearer tga_nope" } });
        expect(wrong.status).toBe(401);
      });
    });
  });
}
