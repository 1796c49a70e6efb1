import { createGate, type KeyStore, mayAccessOrg, type Principal, principalOf } from "@tollgate/auth";
import { type BudgetEngine, reservationOrg } from "@tollgate/budgets";
import { fromZodIssues, requireUtf8Body } from "@tollgate/events";
import { type DirectRoute, isPlainJson, type Logger, readJsonBody, respondJson } from "@tollgate/kit";
import express, { type RequestHandler } from "express";
import { z } from "zod";
import { IDENTITY_FIELDS, resolveSubject, tag } from "./subject";

const tokens = z
  .int({ error: "must be a whole number of tokens" })
  .min(0, { error: "must be ≥ 0" })
  .max(100_000_000, { error: "must be ≤ 100000000" });

const checkSchema = z.strictObject(
  {
    ...Object.fromEntries(IDENTITY_FIELDS.map((f) => [f, tag.optional()])),
    provider: tag.optional(),
    model: tag.optional(),
    input_tokens: tokens.default(0),
    max_output_tokens: tokens.default(0),
    reserve: z.boolean({ error: "must be true or false" }).default(false),
  },
  { error: "must be a JSON object" },
);

/** The largest check request body, in both of its routes. */
export const CHECK_BODY_LIMIT_BYTES = 16 * 1024;

/**
 * POST /v1/check: may this subject spend about this much now? Evaluates
 * every matching budget and answers with the strictest decision, the
 * budget that decided, and every budget's standing; with reserve=true it
 * holds the estimate against all of them at once, or against none. One
 * implementation for the Express route and the direct one.
 */
async function answerCheck(
  engine: BudgetEngine,
  input: unknown,
  principal: Principal,
): Promise<{ status: number; body: unknown }> {
  const parsed = checkSchema.safeParse(input);
  if (!parsed.success) {
    return { status: 400, body: { error: "invalid_request", errors: fromZodIssues(parsed.error.issues) } };
  }
  const body = parsed.data as z.infer<typeof checkSchema> & Partial<Record<(typeof IDENTITY_FIELDS)[number], string>>;
  const resolved = resolveSubject(body, principal);
  if ("forbidden" in resolved) return { status: 403, body: resolved.forbidden };
  const subject = { ...resolved.subject, provider: body.provider ?? null, model: body.model ?? null };
  const result = await engine.check(
    subject,
    { model: body.model ?? null, input_tokens: body.input_tokens, max_output_tokens: body.max_output_tokens },
    body.reserve,
  );
  return { status: 200, body: result };
}

/** The Express route: gzip bodies, other content types, and whatever the direct route declines. */
export function checkRoute(engine: BudgetEngine): RequestHandler {
  return async (req, res, next) => {
    try {
      const { status, body } = await answerCheck(engine, req.body, principalOf(res));
      res.status(status).json(body);
    } catch (err) {
      next(err);
    }
  };
}

/** Who may check: agents (and admins); the same gate on both paths. */
const checkGate = (keys: KeyStore) => createGate({ keys, roles: ["agent"] });

/** The Express route's middleware, in its order: the gate (key, role), then the body. */
export function checkMiddleware(keys: KeyStore): RequestHandler[] {
  return [...checkGate(keys).middleware(), express.json({ limit: CHECK_BODY_LIMIT_BYTES, verify: requireUtf8Body })];
}

/**
 * The direct route (see DirectRoute): plain JSON bodies, answered without
 * Express — same gate, same body limit, same answers.
 */
export function checkDirectRoute(engine: BudgetEngine, keys: KeyStore): DirectRoute {
  const gate = checkGate(keys);
  return {
    method: "POST",
    path: "/v1/check",
    takes: (req) => isPlainJson(req, CHECK_BODY_LIMIT_BYTES),
    async handle(req, res) {
      const passed = await gate.pass(req, res);
      if ("refusal" in passed) {
        respondJson(res, passed.refusal.status, passed.refusal.body, passed.refusal.headers);
        return;
      }
      // The body is read only once the key may check (as in the Express route).
      const read = await readJsonBody(req, CHECK_BODY_LIMIT_BYTES);
      if (!read.ok) {
        respondJson(res, read.refusal.status, read.refusal.body, read.refusal.headers);
        return;
      }
      const { status, body } = await answerCheck(engine, read.value, passed.principal);
      respondJson(res, status, body);
    },
  };
}

export function releaseRoute(engine: BudgetEngine, logger?: Logger): RequestHandler {
  return async (req, res) => {
    try {
      const id = String(req.params.id);
      // Another org's reservation answers as an unknown one.
      const org = reservationOrg(id);
      const released = org !== undefined && mayAccessOrg(principalOf(res), org) && (await engine.release(id));
      if (!released) {
        res.status(404).json({
          error: "not_found",
          message: `reservation ${req.params.id} is not held (settled, released, expired or unknown)`,
        });
        return;
      }
      res.status(204).end();
    } catch (err) {
      // The cause (a Redis error text) is for the logs only.
      logger?.warn({ err }, "release failed: budget counters unavailable");
      res.status(503).set("Retry-After", "1").json({ error: "unavailable", message: "budget counters unavailable" });
    }
  };
}
