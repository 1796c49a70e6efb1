import type { UsageEvent } from "@tollgate/events";
import { type KeyBuilder, SCOPE_TYPES, type ScopeType } from "./keys";
import { BUCKET_TTL_SECONDS, TOTALS_WINDOWS, type TotalsWindow, utcBucket, utcBucketEnd } from "./windows";

/** What every counter counts; integers only (tokens, micro-USD, requests). */
export type Totals = {
  tokens: number;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  requests: number;
};
export const TOTAL_FIELDS = ["tokens", "input_tokens", "output_tokens", "cost_micro_usd", "requests"] as const;

export const zeroTotals = (): Totals => ({
  tokens: 0,
  input_tokens: 0,
  output_tokens: 0,
  cost_micro_usd: 0,
  requests: 0,
});

/** What one event counts: the one definition, used by the running totals and (as metrics) by budgets. */
export function eventIncrements(event: UsageEvent): Totals {
  return {
    tokens: event.total_tokens,
    input_tokens: event.input_tokens,
    output_tokens: event.output_tokens,
    cost_micro_usd: event.cost_micro_usd,
    requests: 1,
  };
}

export interface CounterTarget {
  key: string;
  ttlSeconds: number;
}

/**
 * Every counter key one event increments (each scope × each window), with
 * its TTL. Only totals are read of the current day and month, so a bucket
 * that ended more than a day before `nowMs` is not written at all (a late
 * event, or a rebuild reading history for a long budget window).
 */
export function eventCounterTargets(
  keys: KeyBuilder,
  event: UsageEvent,
  nowMs: number,
  tenant = keys.tenant(event.org_id),
): CounterTarget[] {
  const windows = counterBuckets(event, nowMs);
  const targets: CounterTarget[] = [];
  if (windows.length === 0) return targets;
  // One loop, no intermediate arrays: this runs for every counted event.
  for (const scope of SCOPE_TYPES) {
    const id = event[SCOPE_EVENT_FIELD[scope]];
    if (!id) continue;
    for (const { bucket, ttlSeconds } of windows)
      targets.push({ key: keys.counter(tenant, scope, id, bucket), ttlSeconds });
  }
  return targets;
}

/** The day and month buckets an event's running totals go into (none when both ended over a day before `nowMs`). */
export function counterBuckets(event: UsageEvent, nowMs: number): Array<{ bucket: string; ttlSeconds: number }> {
  return TOTALS_WINDOWS.filter((w) => utcBucketEnd(w, event.timestamp_ms) + DAY_MS > nowMs).map((window) => ({
    bucket: utcBucket(window, event.timestamp_ms),
    ttlSeconds: BUCKET_TTL_SECONDS[window],
  }));
}

/** The event field each scope is keyed by (running totals; budgets add `key`); absent optional tags are skipped. */
export const SCOPE_EVENT_FIELD = {
  org: "org_id",
  team: "team_id",
  project: "project_id",
  user: "user_id",
  agent: "agent_id",
  session: "session_id",
  feature: "feature",
  model: "model",
} as const satisfies Record<ScopeType, keyof UsageEvent>;

const DAY_MS = 86_400_000;

/** The identities a usage query may name, as in GET /v1/usage. */
export type IdentityQuery = Partial<Record<ScopeType, string>>;
export type UsageTotals = Partial<Record<ScopeType, Record<TotalsWindow, Totals>>>;

export interface TotalsRead {
  scope: ScopeType;
  window: TotalsWindow;
  key: string;
}

export function totalsReads(keys: KeyBuilder, query: IdentityQuery, nowMs: number): TotalsRead[] {
  const tenant = keys.tenant(query.org);
  return SCOPE_TYPES.flatMap((scope) => {
    const id = query[scope];
    if (!id) return [];
    return TOTALS_WINDOWS.map((window) => ({
      scope,
      window,
      key: keys.counter(tenant, scope, id, utcBucket(window, nowMs)),
    }));
  });
}

export function assembleTotals(reads: TotalsRead[], values: Totals[]): UsageTotals {
  const out: UsageTotals = {};
  reads.forEach((read, i) => {
    const perWindow = out[read.scope] ?? { day: zeroTotals(), month: zeroTotals() };
    perWindow[read.window] = values[i] ?? zeroTotals();
    out[read.scope] = perWindow;
  });
  return out;
}
