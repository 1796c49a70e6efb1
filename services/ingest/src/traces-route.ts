import { type Gate, type Principal, principalOf } from "@tollgate/auth";
import type { DeadLetter, UsagePublisher } from "@tollgate/bus";
import type { PriceFn, UsageEvent } from "@tollgate/events";
import { type DirectRoute, isPlainBody, type Logger, readRawBody, respondBytes, respondJson } from "@tollgate/kit";
import {
  decodeJsonTraceBytes,
  decodeProtobufTraces,
  encodeExportResponse,
  encodeStatus,
  GRPC,
  OTLP_CONTENT_TYPES,
  OtlpDecodeError,
  type OtlpEncoding,
  type OtlpSpan,
  spansToUsage,
} from "@tollgate/otlp";
import express, { type ErrorRequestHandler, type RequestHandler, type Response } from "express";
import { acceptItems, awaitHandOff, deadLetter, handOff, safeStringify } from "./accept";
import { RETRY_AFTER_S } from "./events-route";
import { refusedByStore, STORE_REFUSAL } from "./refused";

export interface TracesRouteDeps {
  publisher: UsagePublisher;
  price: PriceFn;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes: number;
  publishTimeoutMs: number;
}

/** What POST /v1/traces answers, in the request's encoding; the same on the Express route and the direct one. */
export interface TracesAnswer {
  status: number;
  encoding: OtlpEncoding;
  body: Buffer | string;
  headers?: Record<string, string>;
}

/** How many rejection reasons the partial_success message spells out. */
const REASONS_IN_REPLY = 5;
const PROTOBUF_TYPES = ["application/x-protobuf", "application/protobuf"];

/**
 * POST /v1/traces, OTLP/HTTP (protobuf or JSON, optionally gzip). Model-call
 * spans become usage events; spans that are not usage are ignored; usage
 * spans that cannot be accepted are rejected with a reason (dead-letter
 * topic) and counted in partial_success. Replies in the request's encoding.
 */
export async function answerTraces(
  deps: TracesRouteDeps,
  encoding: OtlpEncoding,
  body: Buffer,
  principal: Principal,
): Promise<TracesAnswer> {
  const nowMs = (deps.clock ?? Date.now)();
  let outcome: AcceptedSpans;
  try {
    const spans = encoding === "protobuf" ? decodeProtobufTraces(body) : decodeJsonTraceBytes(body);
    outcome = acceptSpans(spans, { principal, nowMs, price: deps.price });
  } catch (err) {
    if (!(err instanceof OtlpDecodeError)) throw err;
    // Undecodable: nothing to count, but the payload is kept with the reason.
    const payload = encoding === "protobuf" ? body.toString("base64") : body.toString("utf8");
    try {
      await handOff(
        deps.publisher,
        { accepted: [], letters: [deadLetter(err.message, payload, { principal, nowMs })] },
        deps.publishTimeoutMs,
      );
    } catch (busErr) {
      return unavailable(encoding, deps.logger, busErr);
    }
    return { status: 400, encoding, body: encodeStatus(encoding, GRPC.INVALID_ARGUMENT, err.message) };
  }

  // The events go to the bus now; only the reply's reasons wait for its ack (see handOff).
  const { reasons, ignored } = outcome;
  const accepted = outcome.accepted.length;
  const handed = handOff(deps.publisher, outcome, deps.publishTimeoutMs);
  return awaitHandOff(handed, {
    "tollgate.events.accepted": accepted,
    "tollgate.spans.rejected": reasons.length,
    "tollgate.spans.ignored": ignored,
  }).then((failure): TracesAnswer => {
    const refused = refusedByStore(failure);
    // Spans the store refused (embedded mode) are rejected spans; the rest are durable.
    if (refused) reasons.push(...refused.map(() => `a span was ${STORE_REFUSAL.message}`));
    else if (failure) return unavailable(encoding, deps.logger, failure);
    const message =
      reasons.length === 0
        ? ""
        : reasons.slice(0, REASONS_IN_REPLY).join(" | ") +
          (reasons.length > REASONS_IN_REPLY ? ` | … and ${reasons.length - REASONS_IN_REPLY} more` : "");
    return { status: 200, encoding, body: encodeExportResponse(encoding, reasons.length, message) };
  });
}

/** The Express route's handlers: JSON and gzip bodies, and whatever the direct route declines. */
export function tracesRoute(deps: TracesRouteDeps): Array<RequestHandler | ErrorRequestHandler> {
  const readBody = express.raw({ type: () => true, limit: deps.bodyLimitBytes, inflate: true });

  const chooseEncoding: RequestHandler = (req, res, next) => {
    const encoding = encodingOf(req.get("content-type"));
    if (!encoding) {
      res.status(415).json({
        error: "unsupported_media_type",
        message: "Content-Type must be application/x-protobuf or application/json",
      });
      return;
    }
    res.locals.otlpEncoding = encoding;
    next();
  };

  const handler: RequestHandler = async (req, res) => {
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    sendOtlp(res, await answerTraces(deps, res.locals.otlpEncoding as OtlpEncoding, body, principalOf(res)));
  };

  // Body-reading errors (too large, bad gzip, aborted) answered in OTLP's form.
  const onBodyError: ErrorRequestHandler = (err, _req, res, next) => {
    const refusal = bodyRefusal((res.locals.otlpEncoding as OtlpEncoding | undefined) ?? "json", err);
    if (refusal) sendOtlp(res, refusal);
    else next(err);
  };

  return [chooseEncoding, readBody, handler, onBodyError];
}

/**
 * The direct route (see DirectRoute in packages/kit): plain protobuf exports,
 * what OpenTelemetry's exporters send by default, answered without Express —
 * the same gate (key, role, admission), then the body within the same limit,
 * with the same answers. JSON and gzip bodies keep the Express route.
 */
export function tracesDirectRoute(deps: TracesRouteDeps, gate: Gate): DirectRoute {
  return {
    method: "POST",
    path: "/v1/traces",
    takes: (req) => isPlainBody(req, PROTOBUF_TYPES, deps.bodyLimitBytes),
    async handle(req, res) {
      const passed = await gate.pass(req, res);
      if ("refusal" in passed) {
        // The admission's 429 in OTLP's form; the key's and role's as every route answers them.
        if (passed.refusal.status === 429) respondOtlp(res, overloaded("protobuf"));
        else respondJson(res, passed.refusal.status, passed.refusal.body, passed.refusal.headers);
        return;
      }
      respondOtlp(res, await readAndAnswer(deps, req, passed.principal));
    },
  };
}

/** Its own frame, which ends before the hand-off is awaited: the body is not kept alive with the request. */
async function readAndAnswer(
  deps: TracesRouteDeps,
  req: Parameters<DirectRoute["handle"]>[0],
  principal: Principal,
): Promise<TracesAnswer> {
  let body: Buffer;
  try {
    body = await readRawBody(req, deps.bodyLimitBytes);
  } catch (err) {
    const refusal = bodyRefusal("protobuf", err);
    if (!refusal) throw err;
    return refusal;
  }
  return answerTraces(deps, "protobuf", body, principal);
}

/** The refusal of the admission gate, in OTLP's form, on the Express route. */
export function refuseOtlp(res: Response, contentType: string | undefined): void {
  sendOtlp(res, overloaded(encodingOf(contentType) ?? "json"));
}

function overloaded(encoding: OtlpEncoding): TracesAnswer {
  return {
    status: 429,
    encoding,
    body: encodeStatus(encoding, GRPC.RESOURCE_EXHAUSTED, "ingest is at capacity; retry later"),
  };
}

/** A body that could not be read (raw-body's error, as body-parser passes it on), in OTLP's form; null for a server fault. */
function bodyRefusal(encoding: OtlpEncoding, err: unknown): TracesAnswer | null {
  const e = (err ?? {}) as { type?: string; status?: number; limit?: number; message?: string };
  if (e.type === "entity.too.large") {
    return {
      status: 413,
      encoding,
      body: encodeStatus(encoding, GRPC.INVALID_ARGUMENT, `body exceeds ${e.limit} bytes`),
    };
  }
  if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
    const status = e.type === "encoding.unsupported" ? 415 : 400;
    return { status, encoding, body: encodeStatus(encoding, GRPC.INVALID_ARGUMENT, e.message ?? "bad request") };
  }
  return null;
}

interface AcceptedSpans {
  accepted: UsageEvent[];
  letters: DeadLetter[];
  reasons: string[];
  ignored: number;
}

/**
 * Spans → the events to publish, the dead letters and the reasons for the
 * reply. Synchronous and on its own, so that nothing but its result lives on
 * while the request waits for the bus: the decoded spans and their event
 * inputs die young instead of being promoted with the request.
 */
function acceptSpans(spans: OtlpSpan[], ctx: { principal: Principal; nowMs: number; price: PriceFn }): AcceptedSpans {
  const mapped = spansToUsage(spans);
  const acceptance = acceptItems(
    mapped.usage.map((usage) => usage.input),
    { principal: ctx.principal, nowMs: ctx.nowMs, source: "otlp", price: ctx.price },
    // The dead letter keeps the span as sent and the event it was read as.
    (index) => safeStringify({ span: mapped.usage[index]?.span, event: mapped.usage[index]?.input }),
  );
  const reasons = [
    ...mapped.rejected.map((r) => r.reason),
    ...acceptance.rejected.map(({ index, errors }) => {
      const span = mapped.usage[index]?.span;
      return `${span?.path ?? `span ${index}`}: ${errors.map((e) => `${e.path} ${e.message}`).join("; ")}`;
    }),
  ];
  const letters = [
    ...mapped.rejected.map((r) =>
      deadLetter(r.reason, safeStringify({ span: r.span }), { principal: ctx.principal, nowMs: ctx.nowMs }),
    ),
    ...acceptance.letters,
  ];
  return { accepted: acceptance.accepted, letters, reasons, ignored: mapped.ignored };
}

function unavailable(encoding: OtlpEncoding, logger: Logger, err: unknown): TracesAnswer {
  logger.warn({ err }, "bus refused spans; answering 503");
  return {
    status: 503,
    encoding,
    headers: { "Retry-After": String(RETRY_AFTER_S) },
    body: encodeStatus(
      encoding,
      GRPC.UNAVAILABLE,
      "usage could not be handed to the bus; nothing was accepted — retry later",
    ),
  };
}

function sendOtlp(res: Response, answer: TracesAnswer): void {
  res
    .status(answer.status)
    .set(answer.headers ?? {})
    .type(OTLP_CONTENT_TYPES[answer.encoding])
    .send(answer.body);
}

function respondOtlp(res: Parameters<DirectRoute["handle"]>[1], answer: TracesAnswer): void {
  respondBytes(res, answer.status, OTLP_CONTENT_TYPES[answer.encoding], answer.body, answer.headers);
}

function encodingOf(contentType: string | undefined): OtlpEncoding | null {
  const mime = contentType?.split(";")[0]?.trim().toLowerCase();
  if (mime && PROTOBUF_TYPES.includes(mime)) return "protobuf";
  if (mime === "application/json") return "json";
  return null;
}
