import {
  authenticate,
  boundTagConflicts,
  type KeyStore,
  orgOf,
  principalOf,
  requireRole,
  tenantRefusal,
} from "@tollgate/auth";
import type { DecisionLog } from "@tollgate/budgets";
import { type DefaultTagField, fromZodIssues, MAX_IDENTIFIER_LENGTH, text } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";
import express, { type Router } from "express";
import { z } from "zod";

export const DECISIONS_PATH = "/v1/decisions/recent";

/** GET /v1/decisions/recent's query (also the OpenAPI document's, see api.ts). */
export const recentDecisionsQuerySchema = z.strictObject(
  {
    minutes: z.coerce
      .number({ error: "must be a number of minutes" })
      .int({ error: "must be a whole number of minutes" })
      .min(1, { error: "must be ≥ 1" })
      .max(60, { error: "must be ≤ 60" })
      .default(15)
      .meta({ description: "How far back, in minutes (1–60; default 15)" }),
    limit: z.coerce
      .number({ error: "must be a number" })
      .int({ error: "must be a whole number" })
      .min(1, { error: "must be ≥ 1" })
      .max(500, { error: "must be ≤ 500" })
      .default(50)
      .meta({ description: "At most this many, newest first (1–500; default 50)" }),
    // Absent: every org the key may read; empty: the checks without an org.
    org_id: text({ max: MAX_IDENTIFIER_LENGTH, min: 0, trim: false })
      .optional()
      .meta({ description: "The operator: one org only (empty: checks without an org). Others: their own org" }),
  },
  { error: "query may only hold minutes, limit and org_id" },
);

/**
 * GET /v1/decisions/recent: the checks of the last minutes that were not a
 * plain allow (deny, throttle, degrade, warn), newest first, from the
 * decision log (Redis in distributed mode, so every instance's; memory in
 * embedded). Tenancy as in the reports: an org-bound key reads its org only
 * (naming another is 403), and a key bound to a user (or team, project,
 * agent) only that identity's records; the operator reads every org, or
 * the one it names. Agent keys are refused by role.
 */
export function decisionsRouter(deps: {
  keys: KeyStore;
  decisions: DecisionLog;
  logger?: Logger;
  clock?: () => number;
}): Router {
  const router = express.Router();
  const clock = deps.clock ?? Date.now;
  router.get(DECISIONS_PATH, authenticate(deps.keys), requireRole("viewer"), async (req, res) => {
    const parsed = recentDecisionsQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const principal = principalOf(res);
    const conflicts = boundTagConflicts(principal.boundTags, { org_id: parsed.data.org_id });
    if (conflicts.length > 0) {
      res.status(403).json(tenantRefusal(conflicts));
      return;
    }
    const { org_id: _org, ...match } = principal.boundTags as Partial<Record<DefaultTagField, string>>;
    const org = parsed.data.org_id ?? orgOf(principal) ?? undefined;
    try {
      const decisions = await deps.decisions.recent({
        ...(org !== undefined ? { org } : {}),
        sinceMs: clock() - parsed.data.minutes * 60_000,
        limit: parsed.data.limit,
        match,
      });
      res.set("cache-control", "no-store").json({ decisions });
    } catch (err) {
      // The cause (a Redis error text) is for the logs only.
      deps.logger?.warn({ err }, "recent decisions unavailable");
      res.status(503).set("Retry-After", "1").json({ error: "unavailable", message: "decision log unavailable" });
    }
  });
  return router;
}
