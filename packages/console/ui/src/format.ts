/** Money is integer micro-USD everywhere; shown as dollars. */
export function usd(micro: number): string {
  const dollars = micro / 1_000_000;
  return dollars.toLocaleString("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: dollars !== 0 && Math.abs(dollars) < 1 ? 4 : 2,
  });
}

export function int(n: number): string {
  return n.toLocaleString("en-US");
}

/** A metric's amount: micro-USD for cost_usd, else a count. */
export function amount(metric: string, n: number): string {
  return metric === "cost_usd" ? usd(n) : int(n);
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

export function isoDaysAgo(days: number, now = Date.now()): string {
  return new Date(now - days * 86_400_000).toISOString();
}

export function startOfUtcDay(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

export function startOfUtcMonth(now = new Date(), monthsBack = 0): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - monthsBack, 1));
}

/** Scope types of budgets ↔ the query fields of /v1/usage and the reports' dimensions. */
export const SCOPE_FIELD: Record<string, string> = {
  org: "org_id",
  team: "team_id",
  project: "project_id",
  user: "user_id",
  agent: "agent_id",
  session: "session_id",
  feature: "feature",
  model: "model",
};
