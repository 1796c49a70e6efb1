import { isUtf8 } from "node:buffer";
import { createServer, type RequestListener, type Server } from "node:http";
import { metrics } from "@opentelemetry/api";
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from "express";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface HttpAppOptions {
  logger: Logger;
  /** Whether the service is shutting down: /readyz fails from then on. */
  isShuttingDown: () => boolean;
  readiness: ReadonlyArray<ReadinessCheck>;
  metricsHandler?: RequestHandler;
  readinessTimeoutMs?: number;
}

/**
 * An express app with the routes every service has: /livez (the process
 * answers), /readyz (each dependency answers within a short timeout; fails
 * once shutdown has begun), /metrics. Service routes are mounted by the
 * caller; `finishHttpApp` adds the not-found and error handlers last.
 */
export function createHttpApp(options: HttpAppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  // An API answer is never served from a cache; hashing every JSON body for
  // an ETag cost a check ~4 % of its CPU.
  app.set("etag", false);
  const timeoutMs = options.readinessTimeoutMs ?? 1_000;
  app.use(requestLogging(options.logger));
  app.use(refuseMalformedQuery);

  app.get("/livez", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    if (options.isShuttingDown()) {
      res.status(503).json({ status: "shutting_down" });
      return;
    }
    const results = await Promise.all(
      options.readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), timeoutMs, `${name} did not answer within ${timeoutMs} ms`);
          return { name, ok: true as const };
        } catch (err) {
          // Which dependency fails is public; why (addresses, error texts) goes to the log only.
          options.logger.warn({ err, dependency: name }, "readiness check failed");
          return { name, ok: false as const };
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks: results });
  });
  if (options.metricsHandler) app.get("/metrics", options.metricsHandler);
  return app;
}

/**
 * Express's query parser turns percent-encoded bytes that are not UTF-8
 * (`%ED%A0%80`, `%FF`) into U+FFFD without a word, so a report filter or a
 * usage query would silently name another identity. Refused instead, like
 * any other invalid field: 400 naming the parameter.
 */
const refuseMalformedQuery: RequestHandler = (req, res, next) => {
  const at = req.url.indexOf("?");
  const name = at < 0 ? null : malformedQueryParameter(req.url.slice(at + 1));
  if (name === null) {
    next();
    return;
  }
  res.status(400).json({
    error: "invalid_request",
    errors: [{ path: name, message: "is not well-formed UTF-8 once percent-decoded" }],
  });
};

/** The first query parameter whose name or value does not percent-decode to UTF-8 (its name, as readable as it gets); null when all do. */
export function malformedQueryParameter(query: string): string | null {
  // A cheap test first: without a "%" every parameter is already text.
  if (!query.includes("%")) return null;
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const name = percentDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? null : percentDecode(pair.slice(eq + 1));
    if (!isUtf8(name) || (value !== null && !isUtf8(value))) return name.toString("utf8");
  }
  return null;
}

/** The bytes a query component names: %XX escapes as bytes, the rest as UTF-8; a "%" without two hex digits stays itself (as the query parser reads it). */
function percentDecode(component: string): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (const match of component.matchAll(/(?:%[0-9A-Fa-f]{2})+/g)) {
    parts.push(Buffer.from(component.slice(from, match.index), "utf8"));
    parts.push(Buffer.from(match[0].replaceAll("%", ""), "hex"));
    from = match.index + match[0].length;
  }
  parts.push(Buffer.from(component.slice(from), "utf8"));
  return Buffer.concat(parts);
}

/** Adds the 404 and error handlers: client mistakes get 4xx with a clear message, never a 5xx. */
export function finishHttpApp(app: Express, logger: Logger): void {
  app.use((req, res) => {
    res.status(404).json({ error: "not_found", message: `no route for ${req.method} ${req.path}` });
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const clientError = toClientError(err);
    if (clientError) {
      res.status(clientError.status).json({ error: clientError.code, message: clientError.message });
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, "unhandled error");
    if (!res.headersSent) res.status(500).json({ error: "internal", message: "internal error" });
  };
  app.use(onError);
}

/** Maps body-parser errors (raised before any route runs) to the right 4xx. */
export function toClientError(err: unknown): { status: number; code: string; message: string } | null {
  if (typeof err !== "object" || err === null) return null;
  const e = err as { type?: string; status?: number; limit?: number; message?: string };
  switch (e.type) {
    case "entity.too.large":
      return { status: 413, code: "payload_too_large", message: `request body exceeds the limit of ${e.limit} bytes` };
    case "entity.parse.failed":
      return { status: 400, code: "invalid_json", message: `request body is not valid JSON: ${e.message}` };
    case "encoding.unsupported":
      return { status: 415, code: "unsupported_encoding", message: e.message ?? "unsupported content encoding" };
    case "charset.unsupported":
      return { status: 415, code: "unsupported_charset", message: e.message ?? "unsupported charset" };
    case "entity.not.utf8": // requireUtf8Body in @tollgate/events
      return { status: 400, code: "invalid_encoding", message: e.message ?? "request body is not UTF-8" };
    case "request.aborted":
      return { status: 400, code: "request_aborted", message: "request aborted by the client" };
    case "request.size.invalid":
    case "stream.encoding.set":
      return { status: 400, code: "invalid_body", message: e.message ?? "invalid request body" };
    default:
      if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
        return { status: e.status, code: "bad_request", message: e.message ?? "bad request" };
      }
      return null;
  }
}

const HEALTH_ROUTES = /^\/(livez|readyz|metrics)/;
const levelOf = (status: number, err?: unknown) => (err || status >= 500 ? "error" : status >= 400 ? "info" : "debug");

/** What is recorded of one finished request: its duration by route, and a log line when it failed. */
export type RequestObserver = (request: {
  method: string;
  url: string;
  /** The route pattern, never the raw path: ids in paths would explode the series. */
  route: string;
  status: number;
  startedMs: number;
}) => void;

/**
 * Every request's duration goes to the http.server.request.duration
 * histogram (served at /metrics), and `log` says which requests get a log
 * line: failures (4xx, 5xx), all, or none (pino-http logs them). The
 * Authorization header is never logged. Shared by the Express stack and the
 * direct routes.
 */
export function requestObserver(logger: Logger, log: "failures" | "all" | "none"): RequestObserver {
  const duration = metrics.getMeter("tollgate-http").createHistogram("http.server.request.duration", {
    description: "Duration of HTTP server requests (OpenTelemetry semantic conventions)",
    unit: "s",
    // Seconds (the SDK's default buckets assume milliseconds); checks live in the first few.
    advice: {
      explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    },
  });
  return ({ method, url, route, status, startedMs }) => {
    if (HEALTH_ROUTES.test(url)) return;
    const elapsedMs = performance.now() - startedMs;
    duration.record(elapsedMs / 1000, {
      "http.request.method": method,
      "http.route": route,
      "http.response.status_code": status,
    });
    if (log === "none" || (log === "failures" && status < 400)) return;
    logger[levelOf(status)](
      { req: { method, url }, res: { statusCode: status }, responseTime: Math.round(elapsedMs) },
      "request completed",
    );
  };
}

/**
 * The Express stack's request observation. With debug on, pino-http logs
 * every request in full. Otherwise only failures are logged, without
 * pino-http's per-request child logger: building it cost about a tenth of
 * enforcement's CPU under load for lines that were then dropped (bench/check
 * profile).
 */
function requestLogging(logger: Logger): RequestHandler {
  const debug = logger.isLevelEnabled("debug");
  const observe = requestObserver(logger, debug ? "none" : "failures");
  const logging = debug
    ? pinoHttp({
        logger,
        customLogLevel: (_req, res, err) => levelOf(res.statusCode, err),
        autoLogging: { ignore: (req) => HEALTH_ROUTES.test(req.url ?? "") },
      })
    : null;
  return (req, res, next) => {
    const startedMs = performance.now();
    res.once("finish", () =>
      observe({
        method: req.method,
        url: req.originalUrl,
        route: req.route ? `${req.baseUrl}${String(req.route.path)}` : "(unmatched)",
        status: res.statusCode,
        startedMs,
      }),
    );
    if (logging) logging(req, res, next);
    else next();
  };
}

/** Serves an Express app, or the request listener of `withDirectRoutes` in front of one. */
export function listen(handler: Express | RequestListener, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler).listen(port, host);
    server.once("listening", () => resolve(server));
    server.once("error", reject);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive sockets would hold close() open until they time out.
    server.closeIdleConnections();
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The port a listening server is bound to (the chosen one when configured as 0). */
export function portOf(server: Server): number {
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}
