import express from "express";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { type ApiRoute, documentedRoutes, openApiDocument, openApiPath, servedRoutes } from "./openapi";

const route = (overrides: Partial<ApiRoute> = {}): ApiRoute => ({
  method: "get",
  path: "/v1/things/:id",
  summary: "A thing",
  auth: ["viewer"],
  responses: { 200: { description: "The thing", schema: z.object({ id: z.string() }) } },
  ...overrides,
});

describe("servedRoutes", () => {
  it("lists the routes of nested routers, mounted or not, every method, and the direct routes", () => {
    const app = express();
    app.get("/livez", (_req, res) => void res.end());
    const inner = express.Router();
    inner
      .route("/v1/things/:id")
      .get((_req, res) => void res.end())
      .delete((_req, res) => void res.end());
    // Middleware layers are no routes.
    inner.use("/v1/things", (_req, _res, next) => next());
    const mounted = express.Router();
    mounted.post("/:name/run", (_req, res) => void res.end());
    const outer = express.Router();
    outer.use(inner);
    outer.use("/jobs", mounted);
    app.use(outer);
    expect(servedRoutes(app, [{ method: "POST", path: "/v1/check" }])).toEqual([
      "DELETE /v1/things/{id}",
      "GET /livez",
      "GET /v1/things/{id}",
      "POST /jobs/{name}/run",
      "POST /v1/check",
    ]);
  });
});

describe("openApiDocument", () => {
  it("documents each route with its parameters, body, answers and who may call it", () => {
    const document = openApiDocument({ title: "t", version: "1" }, [
      route({ query: z.object({ limit: z.coerce.number().int().optional() }) }),
      route({ method: "put", body: z.strictObject({ name: z.string() }), auth: ["admin"] }),
    ]);
    expect(documentedRoutes(document).sort()).toEqual([
      "GET /livez",
      "GET /metrics",
      "GET /openapi.json",
      "GET /readyz",
      "GET /v1/things/{id}",
      "PUT /v1/things/{id}",
    ]);
    const get = document.paths?.["/v1/things/{id}"]?.get;
    expect(get?.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(get?.responses ?? {}).sort()).toEqual(["200", "401", "403"]);
    expect(get?.parameters?.map((p) => ("name" in p ? `${p.in}:${p.name}` : "ref"))).toEqual([
      "path:id",
      "query:limit",
    ]);
    const put = document.paths?.["/v1/things/{id}"]?.put;
    expect(put?.requestBody).toMatchObject({
      content: { "application/json": { schema: { type: "object", required: ["name"] } } },
    });
    // Health routes are open; /openapi.json takes any valid key (no 403: no role is refused).
    expect(document.paths?.["/livez"]?.get?.security).toEqual([]);
    expect(Object.keys(document.paths?.["/openapi.json"]?.get?.responses ?? {}).sort()).toEqual(["200", "401"]);
  });

  it("refuses a route listed twice", () => {
    expect(() => openApiDocument({ title: "t", version: "1" }, [route(), route()])).toThrow(/listed twice/);
  });

  it("writes express paths as OpenAPI's", () => {
    expect(openApiPath("/v1/webhooks/:id/deliveries/:delivery/replay")).toBe(
      "/v1/webhooks/{id}/deliveries/{delivery}/replay",
    );
    // An escaped colon is a literal one (a bulk route), not a parameter.
    expect(openApiPath("/v1/budgets\\:batch")).toBe("/v1/budgets:batch");
  });

  it("documents a route whose path holds an escaped colon without a path parameter, as served", () => {
    const batch = route({
      method: "post",
      path: "/v1/things\\:batch",
      body: z.strictObject({ ids: z.array(z.string()) }),
    });
    const document = openApiDocument({ title: "t", version: "1" }, [route(), batch]);
    const post = document.paths?.["/v1/things:batch"]?.post;
    expect(post?.parameters ?? []).toEqual([]);
    const app = express();
    app.post("/v1/things\\:batch", (_req, res) => void res.end());
    app.get("/v1/things/:id", (_req, res) => void res.end());
    expect(servedRoutes(app)).toEqual(["GET /v1/things/{id}", "POST /v1/things:batch"]);
    expect(documentedRoutes(document)).toContain("POST /v1/things:batch");
  });
});
