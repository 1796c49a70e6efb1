import { authenticate, type KeyStore, requireRole } from "@tollgate/auth";
import { BUDGET_ID, type BudgetStore, budgetInputSchema, toBudget } from "@tollgate/budgets";
import { fromZodIssues } from "@tollgate/events";
import express, { type Router } from "express";

/**
 * Budgets API: admins write, viewers (and admins) read. Definitions are
 * durable in ClickHouse/chDB; every instance picks a change up within a
 * second (BudgetStore refresh).
 */
export function budgetsRouter(deps: { keys: KeyStore; budgets: BudgetStore; clock?: () => number }): Router {
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
  return router;
}
