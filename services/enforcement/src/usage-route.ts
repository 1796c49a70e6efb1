import { boundTagConflicts, principalOf, tenantRefusal } from "@tollgate/auth";
import type { BudgetEngine, Subject } from "@tollgate/budgets";
import type { CounterStore, IdentityQuery, ScopeType } from "@tollgate/counters";
import { fromZodIssues, identifier } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import type { RequestHandler } from "express";
import { z } from "zod";

const tag = identifier;

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

/** GET /v1/usage's query (also the OpenAPI document's, see api.ts). */
export const usageQuerySchema = z
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
  logger?: Logger,
): RequestHandler {
  return async (req, res) => {
    const parsed = usageQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const principal = principalOf(res);
    const query = { ...parsed.data };
    // Bound tags (its org, …) confine every key; an agent key also reads only
    // the identities its default tags name (those it acts for).
    const confined =
      principal.role === "agent" ? { ...principal.defaultTags, ...principal.boundTags } : principal.boundTags;
    const conflicts = boundTagConflicts(confined, query);
    if (conflicts.length > 0) {
      res.status(403).json(tenantRefusal(conflicts));
      return;
    }
    // A key bound to an org reads that org's counters unless it names it.
    query.org_id ??= principal.boundTags.org_id ?? principal.defaultTags.org_id;
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
      // The cause (a Redis error text) is for the logs only.
      logger?.warn({ err }, "usage read failed: counters unavailable");
      res.status(503).set("Retry-After", "1").json({ error: "unavailable", message: "usage counters unavailable" });
    }
  };
}
