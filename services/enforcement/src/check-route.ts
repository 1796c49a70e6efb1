import { principalOf } from "@tollgate/auth";
import type { BudgetEngine } from "@tollgate/budgets";
import { fromZodIssues } from "@tollgate/events";
import type { RequestHandler } from "express";
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

/**
 * POST /v1/check: may this subject spend about this much now? Evaluates
 * every matching budget and answers with the strictest decision, the
 * budget that decided, and every budget's standing; with reserve=true it
 * holds the estimate against all of them at once, or against none.
 */
export function checkRoute(engine: BudgetEngine): RequestHandler {
  return async (req, res, next) => {
    const parsed = checkSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const body = parsed.data as z.infer<typeof checkSchema> & Partial<Record<(typeof IDENTITY_FIELDS)[number], string>>;
    const resolved = resolveSubject(body, principalOf(res));
    if ("forbidden" in resolved) {
      res.status(403).json({ error: "forbidden", message: resolved.forbidden });
      return;
    }
    const subject = {
      ...resolved.subject,
      provider: body.provider ?? null,
      model: body.model ?? null,
    };
    try {
      const result = await engine.check(
        subject,
        { model: body.model ?? null, input_tokens: body.input_tokens, max_output_tokens: body.max_output_tokens },
        body.reserve,
      );
      res.json(result);
    } catch (err) {
      next(err);
    }
  };
}

export function releaseRoute(engine: BudgetEngine): RequestHandler {
  return async (req, res) => {
    try {
      const released = await engine.release(String(req.params.id));
      if (!released) {
        res.status(404).json({
          error: "not_found",
          message: `reservation ${req.params.id} is not held (settled, released, expired or unknown)`,
        });
        return;
      }
      res.status(204).end();
    } catch (err) {
      res
        .status(503)
        .set("Retry-After", "1")
        .json({
          error: "unavailable",
          message: `budget counters unavailable: ${(err as Error).message}`,
        });
    }
  };
}
