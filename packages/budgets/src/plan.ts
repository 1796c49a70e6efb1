import { type KeyBuilder, SCOPE_EVENT_FIELD, type Totals } from "@tollgate/counters";
import type { UsageEvent } from "@tollgate/events";
import { type Budget, type BudgetScopeType, type BudgetWindow, type Metric, SCOPE_ORDER } from "./definition";
import { RATE_WINDOW } from "./forecast";
import { type Grant, grantedAmount } from "./grants";
import { type BudgetIndex, budgetIndex, grantsByBudget } from "./index-by-scope";
import type { UsageIncrement } from "./ledger";
import { bucketAt, windowPosition } from "./windows";

/** Who is asking (a check) or who used (an event): every field a budget may match on. */
export interface Subject {
  org_id?: string | null;
  team_id?: string | null;
  project_id?: string | null;
  user_id?: string | null;
  agent_id?: string | null;
  session_id?: string | null;
  feature?: string | null;
  task_type?: string | null;
  model?: string | null;
  provider?: string | null;
  key_id?: string | null;
  tier?: string | null;
}

const SCOPE_FIELD: Record<BudgetScopeType, keyof Subject> = { ...SCOPE_EVENT_FIELD, key: "key_id" };

/** A budget as it applies to one subject: the member it counts (a "*" budget's member is the subject's id). */
export interface Applicable {
  budget: Budget;
  member: string;
}

export function applicableBudgets(budgets: ReadonlyArray<Budget>, subject: Subject): Applicable[] {
  const out: Applicable[] = [];
  for (const budget of candidates(budgetIndex(budgets), subject)) {
    // An org's budget never counts or limits another org (tenants stay apart).
    if (budget.org_id != null && budget.org_id !== subject.org_id) continue;
    const value = subject[SCOPE_FIELD[budget.scope.type]];
    if (!value) continue;
    if (budget.scope.id !== "*" && budget.scope.id !== value) continue;
    if (budget.tier !== null && budget.tier !== subject.tier) continue;
    const f = budget.filter;
    if (f.model !== undefined && f.model !== subject.model) continue;
    if (f.feature !== undefined && f.feature !== subject.feature) continue;
    if (f.task_type !== undefined && f.task_type !== subject.task_type) continue;
    if (f.provider !== undefined && f.provider !== subject.provider) continue;
    out.push({ budget, member: value });
  }
  // Wider scopes first: org ⊃ team ⊃ project ⊃ user ⊃ agent ⊃ session, then the rest.
  return out.sort(
    (a, b) =>
      SCOPE_ORDER[a.budget.scope.type] - SCOPE_ORDER[b.budget.scope.type] || a.budget.id.localeCompare(b.budget.id),
  );
}

/** The budgets that may apply to a subject: every `"*"` budget, and the explicit ones naming one of its ids. */
function candidates(index: BudgetIndex, subject: Subject): ReadonlyArray<Budget> {
  if (index.explicit.size === 0) return index.wildcards;
  const found = [...index.wildcards];
  for (const [type, members] of index.explicit) {
    const value = subject[SCOPE_FIELD[type]];
    const explicit = value ? members.get(value) : undefined;
    if (explicit === undefined) continue;
    if (Array.isArray(explicit)) found.push(...explicit);
    else found.push(explicit);
  }
  // In no particular order: applicableBudgets sorts what applies, wider scopes first.
  return found;
}

/**
 * One limit to hold a request against: a budget's window, or one of its
 * rate limits (a rolling minute). Rate limits throttle; windows act as the
 * budget says.
 */
export interface Line {
  budget: Budget;
  member: string;
  kind: "window" | "requests_per_minute" | "tokens_per_minute";
  metric: Metric;
  window: BudgetWindow;
  limit: number;
  /** Counter keys whose sum is the standing, oldest first; the last is where holds go. */
  keys: string[];
  holdsKeys: string[];
  resetsAtMs: number | null;
  ttlSeconds: number;
  /** A window line's recent-rate slices (see forecast.ts), oldest first; empty for rate limits. */
  rateKeys: string[];
}

const MINUTE: BudgetWindow = { type: "rolling", seconds: 60 };

/** A value made on first use, then kept. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

export function linesFor(
  keys: KeyBuilder,
  tenant: string,
  applicable: Applicable[],
  nowMs: number,
  grants: ReadonlyArray<Grant> = [],
): Line[] {
  const lines: Line[] = [];
  for (const { budget, member } of applicable) {
    const add = (kind: Line["kind"], metric: Metric, window: BudgetWindow, limit: number) => {
      const position = windowPosition(window, nowMs);
      const id = kind === "window" ? budget.id : `${budget.id}#${kind}`;
      // Keys are made when read: counting an event needs none of them (it writes its own bucket, usageKey),
      // a check reads them all — a rolling window's 12 slices and the rate's 12 are 72 strings a line.
      const bucketKeys = once(() => position.buckets.map((bucket) => keys.budgetBucket(tenant, id, member, bucket)));
      const holdsKeys = once(() => bucketKeys().map((key) => keys.budgetHolds(key)));
      const rateKeys = once(() => (kind === "window" ? rateKeysAt(keys, tenant, budget.id, member, nowMs) : []));
      lines.push({
        budget,
        member,
        kind,
        metric,
        window,
        limit,
        get keys() {
          return bucketKeys();
        },
        get holdsKeys() {
          return holdsKeys();
        },
        resetsAtMs: position.resetsAtMs,
        ttlSeconds: position.ttlSeconds,
        get rateKeys() {
          return rateKeys();
        },
      });
    };
    // Live grants top the window's limit up; rate limits stay as they are.
    const granted = grantedAmount(grantsByBudget(grants).get(budget.id) ?? [], budget.id, member, nowMs);
    add("window", budget.metric, budget.window, budget.limit + granted);
    if (budget.rate_limit.requests_per_minute !== undefined) {
      add("requests_per_minute", "requests", MINUTE, budget.rate_limit.requests_per_minute);
    }
    if (budget.rate_limit.tokens_per_minute !== undefined) {
      add("tokens_per_minute", "tokens", MINUTE, budget.rate_limit.tokens_per_minute);
    }
  }
  return lines;
}

/** The key usage at `atMs` lands in, for a line (events carry their own time; late ones land in their bucket). */
export function usageKey(keys: KeyBuilder, tenant: string, line: Line, atMs: number): string {
  const id = line.kind === "window" ? line.budget.id : `${line.budget.id}#${line.kind}`;
  return keys.budgetBucket(tenant, id, line.member, bucketAt(line.window, atMs));
}

/** The recent-rate slices of a budget member's window line at `atMs`, oldest first. */
export function rateKeysAt(keys: KeyBuilder, tenant: string, budgetId: string, member: string, atMs: number): string[] {
  return windowPosition(RATE_WINDOW, atMs).buckets.map((b) => keys.budgetBucket(tenant, `${budgetId}#rate`, member, b));
}

/**
 * The recent-rate increment usage at `atMs` makes on a window line: into
 * the slice of its own time, keeping the slice's earliest usage time.
 */
export function rateIncrement(
  keys: KeyBuilder,
  tenant: string,
  line: Line,
  atMs: number,
  amount: number,
): UsageIncrement {
  const id = `${line.budget.id}#rate`;
  return {
    key: keys.budgetBucket(tenant, id, line.member, bucketAt(RATE_WINDOW, atMs)),
    amount,
    ttlSeconds: windowPosition(RATE_WINDOW, atMs).ttlSeconds,
    firstAtMs: atMs,
  };
}

/** Amounts in every metric's unit: what a request may use, or what an event used. */
export type Amounts = Record<Metric, number>;

/** An event's running-total counts as budget metrics (the one definition of what an event counts: eventIncrements). */
export function amountsOf(counts: Totals): Amounts {
  return {
    tokens: counts.tokens,
    input_tokens: counts.input_tokens,
    output_tokens: counts.output_tokens,
    cost_usd: counts.cost_micro_usd,
    requests: counts.requests,
  };
}

/** An event as the subject of its budgets: its tags are the subject's fields (no copy: read only). */
export function eventSubject(event: UsageEvent): Subject {
  return event;
}
