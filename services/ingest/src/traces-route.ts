import { trace } from "@opentelemetry/api";
import { type Principal, principalOf } from "@tollgate/auth";
import type { DeadLetter, UsagePublisher } from "@tollgate/bus";
import type { PriceFn, UsageEvent } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import {
  decodeJsonTraces,
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
import { acceptItems, deadLetter, handOff, safeStringify } from "./accept";
import { RETRY_AFTER_S } from "./events-route";

export interface TracesRouteDeps {
  publisher: UsagePublisher;
  price: PriceFn;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes: number;
  publishTimeoutMs: number;
}

const tracer = trace.getTracer("tollgate-ingest");
/** How many rejection reasons the partial_success message spells out. */
const REASONS_IN_REPLY = 5;

/**
 * POST /v1/traces, OTLP/HTTP (protobuf or JSON, optionally gzip). Model-call
 * spans become usage events; spans that are not usage are ignored; usage
 * spans that cannot be accepted are rejected with a reason (dead-letter
 * topic) and counted in partial_success. Replies in the request's encoding.
 */
export function tracesRoute(deps: TracesRouteDeps): Array<RequestHandler | ErrorRequestHandler> {
  const clock = deps.clock ?? Date.now;
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
    const encoding = res.locals.otlpEncoding as OtlpEncoding;
    const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const principal = principalOf(res);
    const nowMs = clock();

    let outcome: AcceptedSpans;
    try {
      const spans = encoding === "protobuf" ? decodeProtobufTraces(body) : decodeJsonTraces(body.toString("utf8"));
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
        unavailable(res, encoding, deps.logger, busErr);
        return;
      }
      sendOtlp(res, 400, encoding, encodeStatus(encoding, GRPC.INVALID_ARGUMENT, err.message));
      return;
    }

    const { accepted, letters, reasons, ignored } = outcome;
    await tracer.startActiveSpan("ingest.publish", async (span) => {
      span.setAttribute("tollgate.events.accepted", accepted.length);
      span.setAttribute("tollgate.spans.rejected", reasons.length);
      span.setAttribute("tollgate.spans.ignored", ignored);
      try {
        await handOff(deps.publisher, { accepted, letters }, deps.publishTimeoutMs);
      } catch (err) {
        unavailable(res, encoding, deps.logger, err);
        return;
      } finally {
        span.end();
      }
      const message =
        reasons.length === 0
          ? ""
          : reasons.slice(0, REASONS_IN_REPLY).join(" | ") +
            (reasons.length > REASONS_IN_REPLY ? ` | … and ${reasons.length - REASONS_IN_REPLY} more` : "");
      sendOtlp(res, 200, encoding, encodeExportResponse(encoding, reasons.length, message));
    });
  };

  // Body-reading errors (too large, bad gzip, aborted) answered in OTLP's form.
  const onBodyError: ErrorRequestHandler = (err, _req, res, next) => {
    const encoding = (res.locals.otlpEncoding as OtlpEncoding | undefined) ?? "json";
    const e = err as { type?: string; status?: number; limit?: number; message?: string };
    if (e.type === "entity.too.large") {
      sendOtlp(res, 413, encoding, encodeStatus(encoding, GRPC.INVALID_ARGUMENT, `body exceeds ${e.limit} bytes`));
      return;
    }
    if (typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      const status = e.type === "encoding.unsupported" ? 415 : 400;
      sendOtlp(res, status, encoding, encodeStatus(encoding, GRPC.INVALID_ARGUMENT, e.message ?? "bad request"));
      return;
    }
    next(err);
  };

  return [chooseEncoding, readBody, handler, onBodyError];
}

/**
 * Spans → the events to publish, the dead letters and the reasons for the
 * reply. Synchronous and on its own, so that nothing but its result lives on
 * while the request waits for the bus: the decoded spans and their event
 * inputs die young instead of being promoted with the request.
 */
interface AcceptedSpans {
  accepted: UsageEvent[];
  letters: DeadLetter[];
  reasons: string[];
  ignored: number;
}

function acceptSpans(spans: OtlpSpan[], ctx: { principal: Principal; nowMs: number; price: PriceFn }): AcceptedSpans {
  const mapped = spansToUsage(spans);
  const acceptance = acceptItems(
    // The dead letter keeps the span as sent and the event it was read as.
    mapped.usage.map(({ span, input }) => ({ raw: input, payload: () => safeStringify({ span, event: input }) })),
    { principal: ctx.principal, nowMs: ctx.nowMs, source: "otlp", price: ctx.price },
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

/** The refusal of the admission gate, in OTLP's form. */
export function refuseOtlp(res: Response, contentType: string | undefined): void {
  const encoding = encodingOf(contentType) ?? "json";
  sendOtlp(res, 429, encoding, encodeStatus(encoding, GRPC.RESOURCE_EXHAUSTED, "ingest is at capacity; retry later"));
}

function unavailable(res: Response, encoding: OtlpEncoding, logger: Logger, err: unknown): void {
  logger.warn({ err }, "bus refused spans; answering 503");
  res.set("Retry-After", String(RETRY_AFTER_S));
  sendOtlp(
    res,
    503,
    encoding,
    encodeStatus(
      encoding,
      GRPC.UNAVAILABLE,
      "usage could not be handed to the bus; nothing was accepted — retry later",
    ),
  );
}

function sendOtlp(res: Response, status: number, encoding: OtlpEncoding, body: Buffer | string): void {
  res.status(status).type(OTLP_CONTENT_TYPES[encoding]).send(body);
}

function encodingOf(contentType: string | undefined): OtlpEncoding | null {
  const mime = contentType?.split(";")[0]?.trim().toLowerCase();
  if (mime === "application/x-protobuf" || mime === "application/protobuf") return "protobuf";
  if (mime === "application/json") return "json";
  return null;
}
