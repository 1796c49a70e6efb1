import { createGate, type KeyStore, mayAccessOrg, type Principal, principalOf } from "@tollgate/auth";
import { type BudgetEngine, reservationOrg } from "@tollgate/budgets";
import { fromZodIssues, requireUtf8Body } from "@tollgate/events";
import { type DirectRoute, isPlainJson, type Logger, readJsonBody, respondJson } from "@tollgate/kit";
import express, { type RequestHandler } from "express";
import { z } from "zod";
import { countInputTokens, estimateFields } from "./estimate";
import { IDENTITY_FIELDS, type IdentityField, resolveSubject, tag } from "./subject";

const tokens = z
  .int({ error: "must be a whole number of tokens" })
  .min(0, { error: "must be ≥ 0" })
  .max(100_000_000, { error: "must be ≤ 100000000" });

/** POST /v1/check's body (also the request schema of the OpenAPI document, see api.ts). */
export const checkSchema = z.strictObject(
  {
    ...(Object.fromEntries(IDENTITY_FIELDS.map((f) => [f, tag.optional()])) as Record<
      IdentityField,
      z.ZodOptional<typeof tag>
    >),
    provider: tag.optional(),
    model: tag.optional(),
    // Absent is 0, as it always was: a check may be about requests only.
    input_tokens: tokens.optional(),
    max_output_tokens: tokens.optional(),
    reserve: z.boolean({ error: "must be true or false" }).default(false),
    ...estimateFields,
  },
  { error: "must be a JSON object" },
);
type CheckBody = z.infer<typeof checkSchema>;

/**
 * One source of input tokens: two that disagree would leave the hold
 * ambiguous. Checked here, not as a schema refinement, so that a plain
 * `input_tokens` check (the hot path) does not pay for it.
 */
function sourceConflicts(body: CheckBody): Array<{ path: string; message: string }> {
  const named = (["input_tokens", "messages", "prompt"] as const).filter((f) => body[f] !== undefined);
  const errors: Array<{ path: string; message: string }> = named
    .slice(1)
    .map((path) => ({ path, message: `not together with ${named[0]}: give one of them` }));
  if (body.system !== undefined && body.messages === undefined) {
    errors.push({ path: "system", message: "only with messages (Anthropic's shape)" });
  }
  return errors;
}

/**
 * The largest check request body, in both of its routes. 256 KiB, not the
 * 16 KiB a token count needs, because `messages` carries the prompt itself
 * (about 64k tokens of English). Not more: tokenizing runs on the event
 * loop that answers every other check, and 256 KiB of the worst text
 * (random, no merges cached) takes 150–250 ms (estimate.test.ts); a larger
 * prompt sends its own `input_tokens`. A plain check reads only its bytes.
 */
export const CHECK_BODY_LIMIT_BYTES = 256 * 1024;

/** What counting needs besides the text: the model's output limit from the price table. */
export interface CheckOptions {
  outputLimit?: (model: string, provider?: string) => number | null;
}

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
  options: CheckOptions,
): Promise<{ status: number; body: unknown }> {
  const parsed = checkSchema.safeParse(input);
  if (!parsed.success) {
    return { status: 400, body: { error: "invalid_request", errors: fromZodIssues(parsed.error.issues) } };
  }
  const body = parsed.data as CheckBody & Partial<Record<(typeof IDENTITY_FIELDS)[number], string>>;
  const estimating = body.messages !== undefined || body.prompt !== undefined;
  if (estimating || body.system !== undefined) {
    const errors = sourceConflicts(body);
    if (errors.length > 0) return { status: 400, body: { error: "invalid_request", errors } };
  }
  const resolved = resolveSubject(body, principal);
  if ("forbidden" in resolved) return { status: 403, body: resolved.forbidden };
  const subject = { ...resolved.subject, provider: body.provider ?? null, model: body.model ?? null };
  if (!estimating) {
    // The hot path: a counted check does exactly what it did before estimation existed.
    const result = await engine.check(
      subject,
      {
        model: body.model ?? null,
        input_tokens: body.input_tokens ?? 0,
        max_output_tokens: body.max_output_tokens ?? 0,
      },
      body.reserve,
    );
    return { status: 200, body: result };
  }
  const counted = await countInputTokens({ ...body, model: body.model ?? null });
  // An agent that sends its prompt wants the whole call estimated: without a cap,
  // the model may answer up to its output limit, so that is what is held.
  const outputLimit = body.model ? (options.outputLimit?.(body.model, body.provider) ?? null) : null;
  const result = await engine.check(
    subject,
    {
      model: body.model ?? null,
      input_tokens: counted.input_tokens,
      max_output_tokens: body.max_output_tokens ?? outputLimit ?? 0,
    },
    body.reserve,
  );
  return { status: 200, body: { ...result, ...counted } };
}

/** The Express route: gzip bodies, other content types, and whatever the direct route declines. */
export function checkRoute(engine: BudgetEngine, options: CheckOptions = {}): RequestHandler {
  return async (req, res, next) => {
    try {
      const { status, body } = await answerCheck(engine, req.body, principalOf(res), options);
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
export function checkDirectRoute(engine: BudgetEngine, keys: KeyStore, options: CheckOptions = {}): DirectRoute {
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
      const { status, body } = await answerCheck(engine, read.value, passed.principal, options);
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
