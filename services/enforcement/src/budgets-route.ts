import { randomUUID } from "node:crypto";
import {
  authenticate,
  type KeyStore,
  mayAccessOrg,
  orgOf,
  principalOf,
  requireRole,
  tenantRefusal,
} from "@tollgate/auth";
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
import { fromZodIssues, identifier, requireUtf8Body } from "@tollgate/events";
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
  const body = express.json({ limit: "64kb", verify: requireUtf8Body });
  // A user named in a path is an identifier like any other (well-formed, at most 256): refused before any route runs.
  router.param("user", (_req, res, next, value: string) => {
    const parsed = identifier.safeParse(value);
    if (parsed.success) next();
    else res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues, ["user"]) });
  });

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
    // An org admin's budgets are its org's; the operator may give any org, or none (every org).
    const principal = principalOf(res);
    const existing = deps.budgets.get(id);
    // An update that names no org keeps the budget's: leaving it out must never widen a budget to every org.
    const org = parsed.data.org_id ?? existing?.org_id ?? orgOf(principal) ?? undefined;
    if (existing && !mayAccessOrg(principal, existing.org_id)) {
      // Budget ids are one namespace: another org's id is taken (its definition stays unseen).
      res.status(409).json({ error: "conflict", message: `the budget id ${id} is taken; choose another` });
      return;
    }
    if (!mayAccessOrg(principal, org)) {
      res
        .status(403)
        .json(tenantRefusal([{ path: "org_id", message: `this admin key is bound to org ${orgOf(principal)}` }]));
      return;
    }
    try {
      const existed = existing !== undefined;
      const budget = toBudget(id, { ...parsed.data, org_id: org }, clock(), deps.budgets.nextVersion());
      await deps.budgets.put(budget);
      res.status(existed ? 200 : 201).json(budget);
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/budgets", authenticate(deps.keys), requireRole("viewer"), (_req, res) => {
    const principal = principalOf(res);
    const visible = deps.budgets.all().filter((b) => mayAccessOrg(principal, b.org_id));
    res.json({ budgets: visible.sort((a, b) => a.id.localeCompare(b.id)) });
  });

  /** The budget of the path when the principal may see it; another org's answers as a missing one. */
  const visibleBudget = (req: express.Request, res: express.Response) => {
    const budget = deps.budgets.get(String(req.params.id));
    return budget && mayAccessOrg(principalOf(res), budget.org_id) ? budget : undefined;
  };

  router.get("/v1/budgets/:id", authenticate(deps.keys), requireRole("viewer"), (req, res) => {
    const budget = visibleBudget(req, res);
    if (!budget) {
      res.status(404).json({ error: "not_found", message: `no budget ${req.params.id}` });
      return;
    }
    res.json(budget);
  });

  router.delete("/v1/budgets/:id", authenticate(deps.keys), requireRole("admin"), async (req, res, next) => {
    try {
      const deleted = visibleBudget(req, res) !== undefined && (await deps.budgets.delete(String(req.params.id)));
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
    const budget = visibleBudget(req, res);
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
    if (!visibleBudget(req, res)) {
      res.status(404).json({ error: "not_found", message: `no budget ${req.params.id}` });
      return;
    }
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
        const mine = grant !== undefined && grant.budget_id === req.params.id && visibleBudget(req, res) !== undefined;
        if (!mine || !(await deps.grants.delete(grant.id))) {
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
  // An org admin's assignments are its org's (the org of the path's user).
  const refused = Symbol("refused");
  const tierOrg = (named: unknown, res: express.Response): string | null | typeof refused => {
    const principal = principalOf(res);
    const org = typeof named === "string" && named !== "" ? named : orgOf(principal);
    if (mayAccessOrg(principal, org)) return org;
    res.status(403).json(tenantRefusal([{ path: "org_id", message: `this key is bound to org ${orgOf(principal)}` }]));
    return refused;
  };
  router.put("/v1/users/:user/tier", authenticate(deps.keys), requireRole("admin"), body, async (req, res, next) => {
    const parsed = tierInputSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_tier", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const org = tierOrg(parsed.data.org_id, res);
    if (org === refused) return;
    try {
      const user = String(req.params.user);
      const assignment: TierAssignment = {
        id: tierAssignmentId(org, user),
        org_id: org,
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
    const org = tierOrg(req.query.org_id, res);
    if (org === refused) return;
    const assignment = deps.tiers.get(tierAssignmentId(org, String(req.params.user)));
    if (!assignment) {
      res.status(404).json({ error: "not_found", message: `user ${req.params.user} carries no tier` });
      return;
    }
    res.json(assignment);
  });
  router.delete("/v1/users/:user/tier", authenticate(deps.keys), requireRole("admin"), async (req, res, next) => {
    const org = tierOrg(req.query.org_id, res);
    if (org === refused) return;
    try {
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
