import { type Gate, type Principal, principalOf } from "@tollgate/auth";
import type { UsagePublisher } from "@tollgate/bus";
import { type PriceFn, requireUtf8Body } from "@tollgate/events";
import { type DirectRoute, isPlainJson, type Logger, readJsonBody, respondJson } from "@tollgate/kit";
import express, { type Request, type RequestHandler, type Response } from "express";
import { acceptItems, awaitHandOff, handOff } from "./accept";
import { acceptedItemIndices, refusedByStore, STORE_REFUSAL } from "./refused";

export interface EventsRouteDeps {
  publisher: UsagePublisher;
  price: PriceFn;
  logger: Logger;
  clock?: () => number;
  bodyLimitBytes: number;
  maxBatch: number;
  publishTimeoutMs: number;
}

/** How long a client should wait before retrying when the bus cannot take events. */
export const RETRY_AFTER_S = 5;

/** What POST /v1/events answers; the same on the Express route and the direct one. */
export interface EventsAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * POST /v1/events: one event or {"events": [...]}. Each item is validated on
 * its own; valid items are published, invalid ones are kept on the
 * dead-letter topic with their errors. 202 when at least one was accepted,
 * 400 when none was. Nothing is acknowledged before the bus has it.
 */
export async function answerEvents(deps: EventsRouteDeps, body: unknown, principal: Principal): Promise<EventsAnswer> {
  const items = batchItems(body);
  if ("error" in items) return { status: 400, body: { error: "invalid_request", message: items.error } };
  if (items.list.length > deps.maxBatch) {
    return {
      status: 413,
      body: {
        error: "batch_too_large",
        message: `a batch may hold at most ${deps.maxBatch} events; this one has ${items.list.length}`,
      },
    };
  }
  const acceptance = acceptItems(items.list, {
    principal,
    nowMs: (deps.clock ?? Date.now)(),
    source: "json",
    price: deps.price,
  });
  // The events go to the bus now; only the reply's counts wait for its ack (see handOff).
  const accepted = acceptance.accepted.length;
  const { rejected } = acceptance;
  const itemCount = items.list.length;
  const handed = handOff(deps.publisher, acceptance, deps.publishTimeoutMs);
  return awaitHandOff(handed, {
    "tollgate.events.accepted": accepted,
    "tollgate.events.rejected": rejected.length,
  }).then((failure): EventsAnswer => {
    const refused = refusedByStore(failure);
    if (refused) {
      // The rest of the request is durable: the refused events answer as rejected items.
      const indices = acceptedItemIndices(itemCount, rejected);
      const all = [...rejected, ...refused.map((i) => ({ index: indices[i] ?? -1, errors: [STORE_REFUSAL] }))].sort(
        (a, b) => a.index - b.index,
      );
      const written = accepted - refused.length;
      return { status: written > 0 ? 202 : 400, body: { accepted: written, rejected: all } };
    }
    if (failure) {
      deps.logger.warn({ err: failure, accepted }, "bus refused events; answering 503");
      return {
        status: 503,
        headers: { "Retry-After": String(RETRY_AFTER_S) },
        body: {
          error: "unavailable",
          message: "usage could not be handed to the bus; nothing from this request was accepted — retry later",
        },
      };
    }
    return { status: accepted > 0 ? 202 : 400, body: { accepted, rejected } };
  });
}

/** The Express route's handlers: gzip bodies, +json types, and whatever the direct route declines. */
export function eventsRoute(deps: EventsRouteDeps): RequestHandler[] {
  const parseJson = express.json({
    limit: deps.bodyLimitBytes,
    type: () => true,
    strict: false,
    verify: requireUtf8Body,
  });

  const requireJson: RequestHandler = (req, res, next) => {
    if (req.is(["application/json", "+json"]) === false || !req.get("content-type")) {
      res.status(415).json({ error: "unsupported_media_type", message: "Content-Type must be application/json" });
      return;
    }
    next();
  };

  const handler: RequestHandler = async (req: Request, res: Response) => {
    const answer = await answerEvents(deps, req.body, principalOf(res));
    res
      .status(answer.status)
      .set(answer.headers ?? {})
      .json(answer.body);
  };
  return [requireJson, parseJson, handler];
}

/**
 * The direct route (see DirectRoute in packages/kit): plain JSON batches,
 * answered without Express — the same gate (key, role, admission), then the
 * body within the same limit, with the same answers. Per request Express
 * costs about as much as validating five events.
 */
export function eventsDirectRoute(deps: EventsRouteDeps, gate: Gate): DirectRoute {
  return {
    method: "POST",
    path: "/v1/events",
    takes: (req) => isPlainJson(req, deps.bodyLimitBytes),
    async handle(req, res) {
      const passed = await gate.pass(req, res);
      if ("refusal" in passed) {
        respondJson(res, passed.refusal.status, passed.refusal.body, passed.refusal.headers);
        return;
      }
      const answer = await readAndAnswer(deps, req, passed.principal);
      respondJson(res, answer.status, answer.body, answer.headers);
    },
  };
}

/** Its own frame, which ends before the hand-off is awaited: the parsed body is not kept alive with the request. */
async function readAndAnswer(
  deps: EventsRouteDeps,
  req: Parameters<DirectRoute["handle"]>[0],
  principal: Principal,
): Promise<EventsAnswer> {
  const read = await readJsonBody(req, deps.bodyLimitBytes);
  if (!read.ok) return { status: read.refusal.status, body: read.refusal.body, headers: read.refusal.headers };
  return answerEvents(deps, read.value, principal);
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
