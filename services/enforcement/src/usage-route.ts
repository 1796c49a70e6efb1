import { principalOf } from "@tollgate/auth";
import type { BudgetEngine, Subject } from "@tollgate/budgets";
import type { CounterStore, IdentityQuery, ScopeType } from "@tollgate/counters";
import { fromZodIssues } from "@tollgate/events";
import type { RequestHandler } from "express";
import { z } from "zod";

const tag = z
  .string()
  .trim()
  .min(1, { error: "must not be empty" })
  .max(256, { error: "must be at most 256 characters" });

/** Query fields of GET /v1/usage and the counter scope each names. */
const FIELD_SCOPES = {
  org_id: "org",
  team_id: "team",
  project_id: "project",
  user_id: "user",
  agent_id: "agent",
  session_id: "session",
  feature: "feature",
  model: "model",
} as const satisfies Record<string, ScopeType>;
type Field = keyof typeof FIELD_SCOPES;
const FIELDS = Object.keys(FIELD_SCOPES) as Field[];

const usageQuerySchema = z
  .strictObject(
    Object.fromEntries(FIELDS.map((f) => [f, tag.optional()])) as Record<Field, z.ZodOptional<typeof tag>>,
    {
      error: `query may only hold ${FIELDS.join(", ")}`,
    },
  )
  .refine((q) => FIELDS.some((f) => f !== "org_id" && q[f] !== undefined), {
    error: `name at least one identity: ${FIELDS.filter((f) => f !== "org_id").join(", ")}`,
  });

/**
 * GET /v1/usage: the standing of each identity named, from the same counters
 * enforcement decides on. An agent key may read only the identities it acts
 * for: where the key carries a default tag, the query may not name another.
 */
export function usageRoute(
  counters: CounterStore,
  engine: BudgetEngine,
  clock: () => number = Date.now,
): RequestHandler {
  return async (req, res) => {
    const parsed = usageQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const principal = principalOf(res);
    const query = { ...parsed.data };
    // A key bound to an org reads that org's counters unless it names it.
    query.org_id ??= principal.defaultTags.org_id;
    if (principal.role === "agent") {
      const foreign = FIELDS.filter((f) => {
        const bound = principal.defaultTags[f as keyof typeof principal.defaultTags];
        return bound !== undefined && query[f] !== undefined && query[f] !== bound;
      });
      if (foreign.length > 0) {
        res.status(403).json({
          error: "forbidden",
          message: `this agent key acts for other identities than ${foreign.map((f) => `${f}=${query[f]}`).join(", ")}`,
        });
        return;
      }
    }
    const identities: IdentityQuery = {};
    for (const field of FIELDS) {
      const value = query[field];
      if (value !== undefined) identities[FIELD_SCOPES[field]] = value;
    }
    try {
      const subject: Subject = { key_id: principal.keyId };
      for (const field of FIELDS) subject[field] = query[field] ?? null;
      const [totals, budgets] = await Promise.all([counters.totals(identities, clock()), engine.standing(subject)]);
      res.json({ budgets, totals });
    } catch (err) {
      res
        .status(503)
        .set("Retry-After", "1")
        .json({
          error: "unavailable",
          message: `usage counters unavailable: ${(err as Error).message}`,
        });
    }
  };
}
