import { randomUUID } from "node:crypto";
import {
  authenticate,
  batchLists,
  batchStatus,
  type ItemRejection,
  inRequestOrder,
  isJsonObject,
  itemRejection,
  type KeyStore,
  listPageQuerySchema,
  mayAccessOrg,
  orgOf,
  type Principal,
  pageRange,
  principalOf,
  type Refusal,
  repeatedIds,
  repeatedRejection,
  requireRole,
  SortedViews,
  tenantRefusal,
} from "@tollgate/auth";
import {
  BUDGET_BATCH_MAX,
  BUDGET_ID,
  type Budget,
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
import { z } from "zod";

/** The path of the bulk route as Express mounts it: `:` escaped, or Express would read `:batch` as a parameter. */
export const BUDGETS_BATCH_PATH = "/v1/budgets\\:batch";
const BATCH_OPS = ["upsert", "delete"] as const;

/** GET /v1/budgets's query (also the OpenAPI document's): a page of budgets, by id. */
export const budgetsPageQuerySchema = listPageQuerySchema(
  z.string().regex(BUDGET_ID, { error: "must be a budget id (1-128 characters of letters, digits, _ . : -)" }),
  "budgets",
);

const invalidItem = (path: string, message: string): Refusal => ({
  status: 400,
  body: { error: "invalid_request", errors: [{ path, message }] },
});

/** A PUT's body, validated, with the org it is written for. */
type BudgetWriteInput = z.output<typeof budgetInputSchema>;

/** POST /v1/budgets:batch's reply: what was written and deleted, and why each other item was not. */
export interface BudgetBatchReply {
  accepted: number;
  upserted: Budget[];
  deleted: string[];
  rejected: ItemRejection[];
}

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

  /** The budget `id` when the principal may see it; another org's answers as a missing one. */
  const visible = (principal: Principal, id: string) => {
    const budget = deps.budgets.get(id);
    return budget && mayAccessOrg(principal, budget.org_id) ? budget : undefined;
  };
  const visibleBudget = (req: express.Request, res: express.Response) =>
    visible(principalOf(res), String(req.params.id));

  /**
   * What PUT /v1/budgets/:id writes for this principal, or why it may not:
   * the one rule of the single route and the batch.
   */
  const budgetWrite = (
    principal: Principal,
    id: string,
    body: unknown,
  ): { input: BudgetWriteInput; existed: boolean } | { refusal: Refusal } => {
    if (!BUDGET_ID.test(id)) {
      return {
        refusal: {
          status: 400,
          body: {
            error: "invalid_request",
            errors: [{ path: "id", message: "must be 1-128 characters of letters, digits, _ . : -" }],
          },
        },
      };
    }
    const parsed = budgetInputSchema.safeParse(body);
    if (!parsed.success) {
      return {
        refusal: { status: 400, body: { error: "invalid_budget", errors: fromZodIssues(parsed.error.issues) } },
      };
    }
    // An org admin's budgets are its org's; the operator may give any org, or none (every org).
    const existing = deps.budgets.get(id);
    // An update that names no org keeps the budget's: leaving it out must never widen a budget to every org.
    const org = parsed.data.org_id ?? existing?.org_id ?? orgOf(principal) ?? undefined;
    if (existing && !mayAccessOrg(principal, existing.org_id)) {
      // Budget ids are one namespace: another org's id is taken (its definition stays unseen).
      return {
        refusal: { status: 409, body: { error: "conflict", message: `the budget id ${id} is taken; choose another` } },
      };
    }
    if (!mayAccessOrg(principal, org)) {
      return {
        refusal: {
          status: 403,
          body: tenantRefusal([{ path: "org_id", message: `this admin key is bound to org ${orgOf(principal)}` }]),
        },
      };
    }
    return { input: { ...parsed.data, org_id: org }, existed: existing !== undefined };
  };

  router.put("/v1/budgets/:id", authenticate(deps.keys), requireRole("admin"), body, async (req, res, next) => {
    const id = String(req.params.id);
    const decided = budgetWrite(principalOf(res), id, req.body);
    if ("refusal" in decided) {
      res.status(decided.refusal.status).json(decided.refusal.body);
      return;
    }
    try {
      const budget = toBudget(id, decided.input, clock(), deps.budgets.nextVersion());
      await deps.budgets.put(budget);
      res.status(decided.existed ? 200 : 201).json(budget);
    } catch (err) {
      next(err);
    }
  });

  // Many writes and deletions in one request, each decided as PUT and DELETE /v1/budgets/:id decide it (batch.ts in @tollgate/auth).
  router.post(
    BUDGETS_BATCH_PATH,
    authenticate(deps.keys),
    requireRole("admin"),
    // A thousand budgets of a few hundred bytes; the single PUT's 64 kB would allow 64 MB.
    express.json({ limit: "2mb", verify: requireUtf8Body }),
    async (req, res, next) => {
      const batch = batchLists(req.body, BATCH_OPS, BUDGET_BATCH_MAX);
      if ("refusal" in batch) {
        res.status(batch.refusal.status).json(batch.refusal.body);
        return;
      }
      const principal = principalOf(res);
      const { upsert, delete: deletions } = batch.lists;
      const idOf = (item: unknown) => (isJsonObject(item) && typeof item.id === "string" ? item.id : undefined);
      const repeated = repeatedIds([
        ...upsert.map(idOf),
        ...deletions.map((id) => (typeof id === "string" ? id : undefined)),
      ]);
      const rejected: ItemRejection[] = [];
      const writes: Array<{ id: string; input: BudgetWriteInput }> = [];
      upsert.forEach((item, index) => {
        const id = idOf(item);
        if (id !== undefined && repeated.has(id)) {
          rejected.push(repeatedRejection("upsert", index, id));
          return;
        }
        // The item is the PUT's body with its path's id inside.
        const { id: _id, ...definition } = isJsonObject(item) ? item : {};
        const decided: ReturnType<typeof budgetWrite> = isJsonObject(item)
          ? budgetWrite(principal, id ?? "", definition)
          : { refusal: invalidItem("(root)", "must be a budget with its id") };
        if ("refusal" in decided) rejected.push(itemRejection("upsert", index, id, decided.refusal));
        else writes.push({ id: id as string, input: decided.input });
      });
      const deletes: Array<{ index: number; id: string }> = [];
      const missing = (index: number, id: string) =>
        itemRejection("delete", index, id, { status: 404, body: { error: "not_found", message: `no budget ${id}` } });
      deletions.forEach((id, index) => {
        if (typeof id !== "string") {
          rejected.push(itemRejection("delete", index, undefined, invalidItem("id", "must be a budget id (a string)")));
        } else if (repeated.has(id)) rejected.push(repeatedRejection("delete", index, id));
        else if (!visible(principal, id)) rejected.push(missing(index, id));
        else deletes.push({ index, id });
      });
      try {
        // One version for the whole batch (BudgetStore.putMany writes each budget's own), one insert each way.
        const version = writes.length > 0 ? deps.budgets.nextVersion() : 0;
        const now = clock();
        const upserted = writes.map((w) => toBudget(w.id, w.input, now, version));
        await deps.budgets.putMany(upserted.map((definition) => ({ definition })));
        const deleted = await deps.budgets.deleteMany(deletes.map((d) => d.id));
        // Deleted by another request meanwhile: answered as DELETE would, 404.
        const gone = new Set(deleted);
        for (const d of deletes) if (!gone.has(d.id)) rejected.push(missing(d.index, d.id));
        const accepted = upserted.length + deleted.length;
        const reply: BudgetBatchReply = { accepted, upserted, deleted, rejected: inRequestOrder(rejected, BATCH_OPS) };
        res.status(batchStatus(accepted)).json(reply);
      } catch (err) {
        next(err);
      }
    },
  );

  // Sorted once per change of the store's list (all() is the same array until then), not per page.
  const sorted = new SortedViews<Budget>();
  router.get("/v1/budgets", authenticate(deps.keys), requireRole("viewer"), (req, res) => {
    const parsed = budgetsPageQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const principal = principalOf(res);
    const visible = sorted.view(deps.budgets.all(), orgOf(principal), (b) => mayAccessOrg(principal, b.org_id));
    const page = pageRange(
      { length: visible.length, idAt: (i) => (visible[i] as Budget).id },
      parsed.data.after,
      parsed.data.limit,
    );
    res.json({ budgets: visible.slice(page.from, page.to), next_after: page.nextAfter });
  });

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
