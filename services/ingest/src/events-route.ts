import { trace } from "@opentelemetry/api";
import { principalOf } from "@tollgate/auth";
import type { DeadLetter, UsagePublisher } from "@tollgate/bus";
import { type FieldError, normalizeUsageEvent, type PriceFn, type UsageEvent } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import express, { type Request, type RequestHandler, type Response } from "express";

export interface EventsRouteDeps {
  publisher: UsagePublisher;
  price: PriceFn;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes: number;
  maxBatch: number;
}

const tracer = trace.getTracer("tollgate-ingest");

/** How long a client should wait before retrying when the bus cannot take events. */
const RETRY_AFTER_S = 5;

/**
 * POST /v1/events: one event or {"events": [...]}. Each item is validated on
 * its own; valid items are published, invalid ones are kept on the
 * dead-letter topic with their errors. 202 when at least one was accepted,
 * 400 when none was. Nothing is acknowledged before the bus has it.
 */
export function eventsRoute(deps: EventsRouteDeps): RequestHandler[] {
  const clock = deps.clock ?? Date.now;
  const parseJson = express.json({ limit: deps.bodyLimitBytes, type: () => true, strict: false });

  const requireJson: RequestHandler = (req, res, next) => {
    if (req.is(["application/json", "+json"]) === false || !req.get("content-type")) {
      res.status(415).json({ error: "unsupported_media_type", message: "Content-Type must be application/json" });
      return;
    }
    next();
  };

  const handler: RequestHandler = async (req: Request, res: Response) => {
    const items = batchItems(req.body);
    if ("error" in items) {
      res.status(400).json({ error: "invalid_request", message: items.error });
      return;
    }
    if (items.list.length > deps.maxBatch) {
      res.status(413).json({
        error: "batch_too_large",
        message: `a batch may hold at most ${deps.maxBatch} events; this one has ${items.list.length}`,
      });
      return;
    }

    const principal = principalOf(res);
    const nowMs = clock();
    const accepted: UsageEvent[] = [];
    const rejected: Array<{ index: number; errors: FieldError[] }> = [];
    const letters: DeadLetter[] = [];
    items.list.forEach((raw, index) => {
      const result = normalizeUsageEvent(raw, {
        nowMs,
        source: "json",
        defaults: principal.defaultTags,
        keyId: principal.keyId,
        price: deps.price,
      });
      if (result.ok) {
        accepted.push(result.event);
        return;
      }
      rejected.push({ index, errors: result.errors });
      letters.push({
        stage: "ingest",
        reason: `invalid usage event: ${result.errors.map((e) => `${e.path} ${e.message}`).join("; ")}`,
        errors: result.errors,
        payload: safeStringify(raw),
        key_id: principal.keyId,
        received_at_ms: nowMs,
      });
    });

    await tracer.startActiveSpan("ingest.publish", async (span) => {
      span.setAttribute("tollgate.events.accepted", accepted.length);
      span.setAttribute("tollgate.events.rejected", rejected.length);
      try {
        // Dead letters first: if they cannot be kept, nothing is published and
        // the client's retry repeats the whole batch without double counting.
        await deps.publisher.deadLetter(letters);
        await deps.publisher.publish(accepted);
      } catch (err) {
        deps.logger.warn({ err, accepted: accepted.length }, "bus refused events; answering 503");
        res.status(503).set("Retry-After", String(RETRY_AFTER_S)).json({
          error: "unavailable",
          message: "usage could not be handed to the bus; nothing from this request was accepted — retry later",
        });
        return;
      } finally {
        span.end();
      }
      res.status(accepted.length > 0 ? 202 : 400).json({ accepted: accepted.length, rejected });
    });
  };
  return [requireJson, parseJson, handler];
}

function batchItems(body: unknown): { list: unknown[] } | { error: string } {
  if (body !== null && typeof body === "object" && !Array.isArray(body) && "events" in body) {
    const events = (body as { events: unknown }).events;
    if (!Array.isArray(events)) return { error: "events must be an array of usage events" };
    if (events.length === 0) return { error: "events must not be empty" };
    return { list: events };
  }
  if (body !== null && typeof body === "object" && !Array.isArray(body)) return { list: [body] };
  return { error: 'body must be one usage event object or {"events": [...]}' };
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    return String(value);
  }
}
