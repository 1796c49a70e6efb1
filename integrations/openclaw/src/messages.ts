import type { BudgetStanding, CheckResult } from "@tollgate/sdk";

/** What a user reads when a turn is stopped: which limit, how much is used, when it frees up. */

function amount(metric: string, value: number): string {
  if (metric === "cost_usd") return `$${(value / 1_000_000).toFixed(2)}`;
  const unit = metric === "requests" ? "requests" : metric.replace("_", " ");
  return `${value.toLocaleString("en-US")} ${unit}`;
}

function when(iso: string): string {
  return `${iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, "")} UTC`;
}

function standing(budget: BudgetStanding): string {
  return `${amount(budget.metric, budget.used)} of ${amount(budget.metric, budget.limit)} used (budget "${budget.id}")`;
}

export function blockMessage(result: CheckResult): string {
  const budget = result.decidingBudget;
  if (result.decision === "throttle") {
    const wait =
      result.retryAfterS !== undefined ? ` Try again in ${Math.max(1, Math.ceil(result.retryAfterS))} s.` : "";
    return `Too many requests right now${budget ? ` (budget "${budget.id}")` : ""}.${wait}`;
  }
  // No standing to show (a per-request cap, say): the server's reason names the rule.
  if (!budget) return `This request is over a usage limit: ${result.reason}.`;
  const resets = budget.resetsAt ?? result.resetsAt;
  return `Usage limit reached: ${standing(budget)}.${resets ? ` It resets at ${when(resets)}.` : ""}`;
}

export const UNAVAILABLE_MESSAGE =
  "Usage limits cannot be checked right now, so this turn was stopped. Try again shortly.";
