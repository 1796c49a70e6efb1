import type { RequestHandler, Router } from "express";
import { z } from "zod";
import { createDocument, type oas31, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from "zod-openapi";
import type { DirectRoute } from "./direct-routes";

/**
 * The OpenAPI 3.1 document of an HTTP service, built from the zod schemas
 * its routes validate with (ARCHITECTURE.md "SDK": `/openapi.json` on each
 * HTTP service documents every route).
 *
 * Built by zod-openapi (5.x), not by hand: it renders each schema with zod 4's
 * own `z.toJSONSchema` (the converter zod maintains with its types) and adds
 * what OpenAPI needs around it — paths, parameters, request bodies, input
 * vs. output forms of the same schema, `$ref` components from `.meta({ id })`
 * — with no prototype patching and no dependency besides zod.
 * @asteasolutions/zod-to-openapi walks zod's internals with a converter of
 * its own and needs `.openapi()` patched onto zod, a second idea of what a
 * schema means next to zod's. 5.x, not 6: 6 needs Node ≥ 22.14, Tollgate
 * runs on Node 20.
 *
 * Each service lists its routes once (an `ApiRoute[]` in its api.ts); the
 * document and the route-coverage test (every served route documented,
 * every documented route served) both read that list.
 */

export type ApiMethod = "get" | "post" | "put" | "patch" | "delete";

/** Who may call a route: "open" (health routes), "any" key, or the roles named (an admin key may do everything). */
export type ApiAuth = "open" | "any" | ReadonlyArray<"admin" | "agent" | "viewer">;

export interface ApiResponse {
  description: string;
  /** The body's schema (application/json unless `contentType` says otherwise); absent: no body. */
  schema?: z.ZodType;
  contentType?: string;
  /** A body in several media types (OTLP answers protobuf or JSON), instead of `schema`. */
  content?: Record<string, z.ZodType>;
}

export interface ApiRoute {
  method: ApiMethod;
  /** As the router mounts it (`/v1/keys/:id`, `/v1/keys\\:batch`); rendered as `/v1/keys/{id}`, `/v1/keys:batch`. */
  path: string;
  summary: string;
  description?: string;
  auth: ApiAuth;
  /** Path parameters; each `:name` of the path not given here is a plain string. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** A JSON body (application/json). */
  body?: z.ZodType;
  /** A body in other or several media types (OTLP takes protobuf or JSON), instead of `body`. */
  bodies?: Record<string, z.ZodType>;
  responses: Record<number, ApiResponse>;
}

/** `{error, message}`: how every route refuses (401, 403, 404, 409, 413, 415, 429, 503…). */
export const refusalSchema = z
  .object({ error: z.string(), message: z.string() })
  .meta({ id: "Refusal", description: "A refusal: a stable code and a human-readable message" });

/** One invalid field: where, and why. */
export const fieldErrorSchema = z
  .object({ path: z.string(), message: z.string() })
  .meta({ id: "FieldError", description: "One invalid field: its path (dotted) and the reason" });

/** 400 for invalid input: every invalid field, with its path. */
export const invalidRequestSchema = z
  .object({ error: z.string(), message: z.string().optional(), errors: z.array(fieldErrorSchema) })
  .meta({ id: "InvalidRequest", description: "Invalid input: each field refused and why" });

/** 403: the key's role may not call the route, or (`errors`) the request names a value the key is bound away from. */
export const forbiddenSchema = refusalSchema
  .extend({ errors: z.array(fieldErrorSchema).optional() })
  .meta({ id: "Forbidden", description: "A refusal for the key: its role, or the tags it is bound to (errors)" });

/**
 * The express path of a route as OpenAPI writes it: `/v1/keys/:id` →
 * `/v1/keys/{id}`; an escaped colon is a colon (`/v1/keys\\:batch` →
 * `/v1/keys:batch`, a custom method in Google's AIP-136 style).
 */
export function openApiPath(path: string): string {
  return path.replace(/(\\?):([A-Za-z0-9_]+)/g, (_match, escaped: string, name: string) =>
    escaped ? `:${name}` : `{${name}}`,
  );
}

/** The `:name` parameters of an express path (an escaped `\\:` is none). */
const PATH_PARAM = /(?<!\\):([A-Za-z0-9_]+)/g;

function pathParams(route: ApiRoute): z.ZodObject | undefined {
  const names = [...route.path.matchAll(PATH_PARAM)].map((m) => m[1] as string);
  if (names.length === 0) return route.params;
  const given = route.params?.shape ?? {};
  return z.object(Object.fromEntries(names.map((name) => [name, given[name] ?? z.string()])));
}

function rolesText(auth: ApiAuth): string {
  if (auth === "open") return "Open: no key needed.";
  if (auth === "any") return "Any valid key (admin, agent or viewer).";
  return `Roles: ${[...new Set(["admin", ...auth])].join(", ")} (an admin key may call every route).`;
}

function operation(route: ApiRoute): ZodOpenApiOperationObject {
  const responses: NonNullable<ZodOpenApiOperationObject["responses"]> = {};
  const all: Record<number, ApiResponse> = { ...route.responses };
  if (route.auth !== "open") {
    all[401] ??= { description: "No key, or a key that is not valid", schema: refusalSchema };
    if (route.auth !== "any") {
      all[403] ??= { description: "The key's role may not call this route", schema: forbiddenSchema };
    }
  }
  for (const [status, response] of Object.entries(all)) {
    responses[status as `${1 | 2 | 3 | 4 | 5}${string}`] = {
      description: response.description,
      ...(response.schema
        ? { content: { [response.contentType ?? "application/json"]: { schema: response.schema } } }
        : response.content
          ? { content: mediaTypes(response.content) }
          : {}),
    };
  }
  const params = pathParams(route);
  const requestParams = {
    ...(params ? { path: params } : {}),
    ...(route.query ? { query: route.query } : {}),
  };
  return {
    summary: route.summary,
    description: [route.description, rolesText(route.auth)].filter(Boolean).join("\n\n"),
    ...(route.auth === "open" ? { security: [] } : { security: [{ bearer: [] }] }),
    "x-tollgate-auth": route.auth,
    ...(Object.keys(requestParams).length > 0 ? { requestParams } : {}),
    ...(route.body || route.bodies
      ? { requestBody: { required: true, content: mediaTypes(route.bodies ?? { "application/json": route.body }) } }
      : {}),
    responses,
  };
}

function mediaTypes(schemas: Record<string, z.ZodType | undefined>) {
  return Object.fromEntries(Object.entries(schemas).map(([type, schema]) => [type, { schema: schema as z.ZodType }]));
}

/** The health routes every service serves (createHttpApp), open like the contract says. */
export const HEALTH_ROUTES: ReadonlyArray<ApiRoute> = [
  {
    method: "get",
    path: "/livez",
    summary: "The process is up",
    auth: "open",
    responses: { 200: { description: "Up", schema: z.object({ status: z.literal("ok") }) } },
  },
  {
    method: "get",
    path: "/readyz",
    summary: "Every dependency answers within a short timeout (fails once shutdown has begun)",
    auth: "open",
    responses: {
      200: { description: "Ready", schema: readinessSchema("ready") },
      503: {
        description: "Not ready, or shutting down",
        schema: z.union([readinessSchema("not_ready"), z.object({ status: z.literal("shutting_down") })]),
      },
    },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text exposition format)",
    auth: "open",
    responses: { 200: { description: "Metrics", schema: z.string(), contentType: "text/plain" } },
  },
];

function readinessSchema(status: "ready" | "not_ready") {
  return z.object({
    status: z.literal(status),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean() })),
  });
}

/** GET /openapi.json itself: served to any valid key (see docs/api.md for why not open). */
export const OPENAPI_ROUTE: ApiRoute = {
  method: "get",
  path: "/openapi.json",
  summary: "This OpenAPI 3.1 document",
  auth: "any",
  responses: { 200: { description: "The document", schema: z.record(z.string(), z.unknown()) } },
};

/** The OpenAPI 3.1 document of `routes`: health routes, /openapi.json and the service's own. */
export function openApiDocument(info: oas31.InfoObject, routes: ReadonlyArray<ApiRoute>): oas31.OpenAPIObject {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of [...HEALTH_ROUTES, OPENAPI_ROUTE, ...routes]) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    const item = paths[path];
    if (item[route.method]) throw new Error(`${route.method.toUpperCase()} ${route.path} is listed twice`);
    item[route.method] = operation(route);
  }
  return createDocument({
    openapi: "3.1.0",
    info,
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "Authorization: Bearer <key> (tga_…)" },
      },
    },
  });
}

/**
 * GET /openapi.json's handler: the document, built at the first request
 * (not at start: no service waits for its docs) and kept — the routes of a
 * running service do not change.
 */
export function serveOpenApi(build: () => oas31.OpenAPIObject): RequestHandler {
  let document: oas31.OpenAPIObject | undefined;
  return (_req, res) => {
    document ??= build();
    res.json(document);
  };
}

/** `METHOD /path` of every operation a document lists (paths in OpenAPI form). */
export function documentedRoutes(document: oas31.OpenAPIObject): string[] {
  const methods: ReadonlyArray<ApiMethod> = ["get", "post", "put", "patch", "delete"];
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    methods.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
  );
}

interface RouterLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
  rawPath?: unknown;
}

/**
 * `METHOD /path` of every route an Express app or router serves (paths in
 * OpenAPI form), walking nested routers, plus the direct routes served in
 * front of it — what the route-coverage tests compare with the document.
 */
export function servedRoutes(
  app: Router | { router: Router },
  direct: ReadonlyArray<Pick<DirectRoute, "method" | "path">> = [],
): string[] {
  const found = new Set<string>();
  const walk = (stack: ReadonlyArray<RouterLayer>, prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const path of ([] as string[]).concat(layer.route.path)) {
          for (const [method, on] of Object.entries(layer.route.methods)) {
            if (on && method !== "_all") found.add(`${method.toUpperCase()} ${openApiPath(prefix + path)}`);
          }
        }
      } else if (layer.handle?.stack) {
        // A nested router: mounted at "/" everywhere in Tollgate; another mount path is kept as its prefix.
        const mount = typeof layer.rawPath === "string" && layer.rawPath !== "/" ? layer.rawPath : "";
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  const router = "router" in app ? app.router : app;
  walk((router as unknown as { stack: RouterLayer[] }).stack, "");
  for (const route of direct) found.add(`${route.method.toUpperCase()} ${openApiPath(route.path)}`);
  return [...found].sort();
}
