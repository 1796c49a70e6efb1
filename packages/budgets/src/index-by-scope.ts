import type { Budget, BudgetScopeType } from "./definition";
import type { Grant } from "./grants";

/**
 * Budgets by what they match on, so a check or an event looks only at the
 * budgets that can apply to it — not at every budget (with 20,000 explicit
 * per-user budgets a scan made a check 24× slower). An explicit budget is
 * found by its scope and member id; `"*"` budgets (one per scope and tier or
 * filter, so few) are kept in their own list and all looked at.
 *
 * Built once per list of budgets: the stores hand out the same array until
 * something changes (ConfigStore.all), so the index is kept beside it and
 * rebuilt only after a change.
 */
export interface BudgetIndex {
  /** `<scope type>\0<scope id>` → the explicit budgets of that member. */
  explicit: Map<string, Budget[]>;
  wildcards: Budget[];
}

const budgetIndexes = new WeakMap<ReadonlyArray<Budget>, BudgetIndex>();

export function budgetIndex(budgets: ReadonlyArray<Budget>): BudgetIndex {
  let index = budgetIndexes.get(budgets);
  if (index) return index;
  index = { explicit: new Map(), wildcards: [] };
  for (const budget of budgets) {
    if (budget.scope.id === "*") {
      index.wildcards.push(budget);
      continue;
    }
    const key = scopeKey(budget.scope.type, budget.scope.id);
    const list = index.explicit.get(key);
    if (list) list.push(budget);
    else index.explicit.set(key, [budget]);
  }
  budgetIndexes.set(budgets, index);
  return index;
}

export function scopeKey(type: BudgetScopeType, id: string): string {
  return `${type}\u0000${id}`;
}

/** Grants by budget: a line looks at its budget's grants only. */
const grantIndexes = new WeakMap<ReadonlyArray<Grant>, Map<string, Grant[]>>();

export function grantsByBudget(grants: ReadonlyArray<Grant>): Map<string, Grant[]> {
  let index = grantIndexes.get(grants);
  if (index) return index;
  index = new Map();
  for (const grant of grants) {
    const list = index.get(grant.budget_id);
    if (list) list.push(grant);
    else index.set(grant.budget_id, [grant]);
  }
  grantIndexes.set(grants, index);
  return index;
}
