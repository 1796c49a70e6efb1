import { isUtf8 } from "node:buffer";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { finished } from "node:stream/promises";
import type { Express } from "express";
import type { Logger } from "pino";
import getRawBody from "raw-body";
import { requestObserver, toClientError } from "./http";

/**
 * A route answered by node:http directly, in front of Express. Only for the
 * hot paths — POST /v1/check, asked before every inference, where Express 5's
 * router, body-parser and response helpers cost more than half of a check's
 * CPU (bench/check: ~6,900 → ~17,000 req/s without them), and the usage
 * reports at ingest. The same route
 * stays mounted in Express with the same semantics and serves every request
 * `takes` declines (gzip bodies, other content types, an oversized
 * Content-Length), so the uncommon cases keep one implementation.
 */
export interface DirectRoute {
  method: string;
  /** Matched exactly, query string ignored (as Express does). */
  path: string;
  takes(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** A request listener: direct routes first, everything else to the Express app. */
export function withDirectRoutes(app: Express, routes: ReadonlyArray<DirectRoute>, logger: Logger): RequestListener {
  const observe = requestObserver(logger, logger.isLevelEnabled("debug") ? "all" : "failures");
  const byKey = new Map(routes.map((route) => [`${route.method} ${route.path}`, route]));
  return (req, res) => {
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const route = byKey.get(`${req.method} ${query === -1 ? url : url.slice(0, query)}`);
    if (!route?.takes(req)) {
      app(req, res);
      return;
    }
    const startedMs = performance.now();
    res.once("finish", () =>
      observe({ method: req.method ?? "", url, route: route.path, status: res.statusCode, startedMs }),
    );
    route.handle(req, res).catch((err: unknown) => {
      logger.error({ err, method: req.method, path: route.path }, "unhandled error");
      if (res.headersSent) res.destroy();
      else respondJson(res, 500, { error: "internal", message: "internal error" });
    });
  };
}

/** A JSON answer, as Express' res.json writes it (no ETag: API answers are never cached). */
export function respondJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A refusal in the shape every route answers with: `{error, message}`. */
export interface HttpRefusal {
  status: number;
  body: { error: string; message: string };
  headers?: Record<string, string>;
}

/**
 * Whether a request carries a plain JSON body (application/json, UTF-8, no
 * content coding) no larger than `limitBytes` by its Content-Length — what
 * a direct route reads itself; anything else is left to express.json.
 */
export function isPlainJson(req: IncomingMessage, limitBytes: number): boolean {
  if (!isPlainBody(req, ["application/json"], limitBytes)) return false;
  const [, ...params] = (req.headers["content-type"] ?? "").toLowerCase().split(";");
  for (const param of params) {
    const [name, value] = param.split("=").map((part) => part.trim());
    if (name === "charset" && value !== "utf-8" && value !== '"utf-8"') return false;
  }
  return true;
}

/**
 * Reads a JSON body as express.json would: at most `limitBytes` (a chunked
 * body that grows past it is refused with 413), an empty body reads as {},
 * and failures get the same 4xx answers as the Express stack. A refused
 * body is drained before the answer (as body-parser does): closing a socket
 * with unread bytes resets it, and the client might never see the 413.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes: number,
): Promise<{ ok: true; value: unknown } | { ok: false; refusal: HttpRefusal }> {
  let text: string;
  try {
    const bytes = await getRawBody(req, { limit: limitBytes, length: req.headers["content-length"] });
    // As express.json with requireUtf8Body: bytes that are not UTF-8 are refused, not read as U+FFFD.
    if (!isUtf8(bytes)) {
      return {
        ok: false,
        refusal: {
          status: 400,
          body: { error: "invalid_encoding", message: "request body is not UTF-8 (JSON must be)" },
        },
      };
    }
    text = bytes.toString("utf8");
    // A byte order mark is dropped, as body-parser's decoder does.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  } catch (err) {
    const client = toClientError(err);
    if (!client) throw err;
    await drain(req);
    return { ok: false, refusal: { status: client.status, body: { error: client.code, message: client.message } } };
  }
  if (text.length === 0) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return {
      ok: false,
      refusal: {
        status: 400,
        body: { error: "invalid_json", message: `request body is not valid JSON: ${(err as Error).message}` },
      },
    };
  }
}

/**
 * Reads a body as bytes as express.raw would: at most `limitBytes` (a
 * chunked body that grows past it is refused), Content-Length checked. A
 * client's error (too large, aborted, wrong length) is thrown as raw-body's
 * error — the one body-parser passes to Express's error handlers, so a route
 * maps both alike — after the rest of the body is drained.
 */
export async function readRawBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  try {
    return await getRawBody(req, { limit: limitBytes, length: req.headers["content-length"] });
  } catch (err) {
    if (toClientError(err)) await drain(req);
    throw err;
  }
}

/** Reads and drops the rest of a refused body: closing a socket with unread bytes resets it. */
async function drain(req: IncomingMessage): Promise<void> {
  req.resume();
  await finished(req).catch(() => undefined);
}

/** Whether a request's Content-Type names one of `mimes` (parameters ignored), with no content coding and a Content-Length within `limitBytes`. */
export function isPlainBody(req: IncomingMessage, mimes: ReadonlyArray<string>, limitBytes: number): boolean {
  const mime = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (mime === undefined || !mimes.includes(mime)) return false;
  const coding = req.headers["content-encoding"];
  if (coding && coding.toLowerCase() !== "identity") return false;
  const length = req.headers["content-length"];
  return length === undefined || Number(length) <= limitBytes;
}

/** A binary or text answer with its type and length (no ETag: API answers are never cached). */
export function respondBytes(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
