import { randomUUID } from "node:crypto";
import { authenticate, type KeyStore, requireRole } from "@tollgate/auth";
import {
  BUDGET_ID,
  type BudgetStore,
  budgetInputSchema,
  type Grant,
  type GrantStore,
  grantInputSchema,
  type TierAssignment,
  type TierStore,
  tierAssignmentId,
  tierInputSchema,
  toBudget,
} from "@tollgate/budgets";
import { fromZodIssues } from "@tollgate/events";
import express, { type Router } from "express";

/**
 * Budgets API: admins write, viewers (and admins) read. Definitions are
 * durable in ClickHouse/chDB; every instance picks a change up within a
 * second (BudgetStore refresh).
 */
export function budgetsRouter(deps: {
  keys: KeyStore;
  budgets: BudgetStore;
  grants: GrantStore;
  tiers: TierStore;
  clock?: () => number;
}): Router {
  const clock = deps.clock ?? Date.now;
  const router = express.Router();
  const body = express.json({ limit: "64kb" });

  router.put("/v1/budgets/:id", authenticate(deps.keys), requireRole("admin"), body, async (req, res, next) => {
    const id = String(req.params.id);
    if (!BUDGET_ID.test(id)) {
      res.status(400).json({
        error: "invalid_request",
        errors: [{ path: "id", message: "must be 1-128 characters of letters, digits, _ . : -" }],
      });
      return;
    }
    const parsed = budgetInputSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_budget", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    try {
      const existed = deps.budgets.get(id) !== undefined;
      const budget = toBudget(id, parsed.data, clock(), deps.budgets.nextVersion());
      await deps.budgets.put(budget);
      res.status(existed ? 200 : 201).json(budget);
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/budgets", authenticate(deps.keys), requireRole("viewer"), (_req, res) => {
    res.json({ budgets: deps.budgets.all().sort((a, b) => a.id.localeCompare(b.id)) });
  });

  router.get("/v1/budgets/:id", authenticate(deps.keys), requireRole("viewer"), (req, res) => {
    const budget = deps.budgets.get(String(req.params.id));
    if (!budget) {
      res.status(404).json({ error: "not_found", message: `no budget ${req.params.id}` });
      return;
    }
    res.json(budget);
  });

  router.delete("/v1/budgets/:id", authenticate(deps.keys), requireRole("admin"), async (req, res, next) => {
    try {
      const deleted = await deps.budgets.delete(String(req.params.id));
      if (!deleted) {
        res.status(404).json({ error: "not_found", message: `no budget ${req.params.id}` });
        return;
      }
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });
  // Grants: temporary top-ups of one budget (for one member, or all).
  router.post("/v1/budgets/:id/grants", authenticate(deps.keys), requireRole("admin"), body, async (req, res, next) => {
    const budget = deps.budgets.get(String(req.params.id));
    if (!budget) {
      res.status(404).json({ error: "not_found", message: `no budget ${req.params.id}` });
      return;
    }
    const parsed = grantInputSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_grant", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const expiresAtMs = Date.parse(parsed.data.expires_at);
    if (expiresAtMs <= clock()) {
      res
        .status(400)
        .json({ error: "invalid_grant", errors: [{ path: "expires_at", message: "must be in the future" }] });
      return;
    }
    try {
      const grant: Grant = {
        id: `grant_${randomUUID().replaceAll("-", "")}`,
        budget_id: budget.id,
        member: parsed.data.member ?? null,
        amount: parsed.data.amount,
        expires_at_ms: expiresAtMs,
        reason: parsed.data.reason ?? null,
        created_at_ms: clock(),
      };
      await deps.grants.put(grant);
      res.status(201).json(grant);
    } catch (err) {
      next(err);
    }
  });
  router.get("/v1/budgets/:id/grants", authenticate(deps.keys), requireRole("viewer"), (req, res) => {
    const now = clock();
    res.json({
      grants: deps.grants.all().filter((g) => g.budget_id === req.params.id && g.expires_at_ms > now),
    });
  });
  router.delete(
    "/v1/budgets/:id/grants/:grant",
    authenticate(deps.keys),
    requireRole("admin"),
    async (req, res, next) => {
      try {
        const grant = deps.grants.get(String(req.params.grant));
        if (!grant || grant.budget_id !== req.params.id || !(await deps.grants.delete(grant.id))) {
          res
            .status(404)
            .json({ error: "not_found", message: `no grant ${req.params.grant} on budget ${req.params.id}` });
          return;
        }
        res.status(204).end();
      } catch (err) {
        next(err);
      }
    },
  );

  // Tiers: which tier a user carries; budgets with "tier" apply to its members.
  router.put("/v1/users/:user/tier", authenticate(deps.keys), requireRole("admin"), body, async (req, res, next) => {
    const parsed = tierInputSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_tier", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    try {
      const user = String(req.params.user);
      const assignment: TierAssignment = {
        id: tierAssignmentId(parsed.data.org_id, user),
        org_id: parsed.data.org_id ?? null,
        user_id: user,
        tier: parsed.data.tier,
        updated_at_ms: clock(),
      };
      await deps.tiers.put(assignment);
      res.json(assignment);
    } catch (err) {
      next(err);
    }
  });
  router.get("/v1/users/:user/tier", authenticate(deps.keys), requireRole("viewer"), (req, res) => {
    const org = typeof req.query.org_id === "string" ? req.query.org_id : null;
    const assignment = deps.tiers.get(tierAssignmentId(org, String(req.params.user)));
    if (!assignment) {
      res.status(404).json({ error: "not_found", message: `user ${req.params.user} carries no tier` });
      return;
    }
    res.json(assignment);
  });
  router.delete("/v1/users/:user/tier", authenticate(deps.keys), requireRole("admin"), async (req, res, next) => {
    try {
      const org = typeof req.query.org_id === "string" ? req.query.org_id : null;
      if (!(await deps.tiers.delete(tierAssignmentId(org, String(req.params.user))))) {
        res.status(404).json({ error: "not_found", message: `user ${req.params.user} carries no tier` });
        return;
      }
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });
  return router;
}
