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
  /**
   * Scope type → member id → the explicit budgets of that member; only the
   * types some budget names. A lookup uses the request's own id string (no
   * key built per check) and a type nobody budgets costs nothing. A member
   * with one budget (the usual case) holds it alone, not in an array: two
   * objects fewer per budget for the garbage collector to mark.
   */
  explicit: Map<BudgetScopeType, Map<string, Budget | Budget[]>>;
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
    let members = index.explicit.get(budget.scope.type);
    if (!members) {
      members = new Map();
      index.explicit.set(budget.scope.type, members);
    }
    const held = members.get(budget.scope.id);
    if (held === undefined) members.set(budget.scope.id, budget);
    else if (Array.isArray(held)) held.push(budget);
    else members.set(budget.scope.id, [held, budget]);
  }
  budgetIndexes.set(budgets, index);
  return index;
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
