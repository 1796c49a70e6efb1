import { trace } from "@opentelemetry/api";
import { principalOf } from "@tollgate/auth";
import type { UsagePublisher } from "@tollgate/bus";
import type { PriceFn } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import express, { type Request, type RequestHandler, type Response } from "express";
import { acceptItems, handOff } from "./accept";

export interface EventsRouteDeps {
  publisher: UsagePublisher;
  price: PriceFn;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes: number;
  maxBatch: number;
  publishTimeoutMs: number;
}

const tracer = trace.getTracer("tollgate-ingest");

/** How long a client should wait before retrying when the bus cannot take events. */
export const RETRY_AFTER_S = 5;

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

    const acceptance = acceptItems(
      items.list.map((raw) => ({ raw })),
      { principal: principalOf(res), nowMs: clock(), source: "json", price: deps.price },
    );
    await tracer.startActiveSpan("ingest.publish", async (span) => {
      span.setAttribute("tollgate.events.accepted", acceptance.accepted.length);
      span.setAttribute("tollgate.events.rejected", acceptance.rejected.length);
      try {
        await handOff(deps.publisher, acceptance, deps.publishTimeoutMs);
      } catch (err) {
        deps.logger.warn({ err, accepted: acceptance.accepted.length }, "bus refused events; answering 503");
        res.status(503).set("Retry-After", String(RETRY_AFTER_S)).json({
          error: "unavailable",
          message: "usage could not be handed to the bus; nothing from this request was accepted — retry later",
        });
        return;
      } finally {
        span.end();
      }
      res
        .status(acceptance.accepted.length > 0 ? 202 : 400)
        .json({ accepted: acceptance.accepted.length, rejected: acceptance.rejected });
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
