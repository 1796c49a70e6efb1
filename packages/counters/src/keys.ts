import { encodeIdPart } from "@tollgate/events";

/**
 * The one key builder for Redis. Every key is
 *   <prefix>:v1:{<tenant>}:<kind>:<parts…>
 * The {tenant} hash tag keeps one tenant's keys in one cluster slot, so a Lua
 * script may touch all the counters of an event atomically. Parts are
 * URI-encoded, so an id containing ':' or '{' can neither collide with
 * another key nor break the hash tag.
 */
export const KEY_VERSION = "v1";

/** Events without an org share this tenant; an org's tenant is "o=<id>", so no org id can name it. */
export const NO_ORG_TENANT = "_";

export const SCOPE_TYPES = ["org", "team", "project", "user", "agent", "session", "feature", "model"] as const;
export type ScopeType = (typeof SCOPE_TYPES)[number];

export interface KeyBuilder {
  readonly prefix: string;
  tenant(orgId: string | null | undefined): string;
  counter(tenant: string, scope: ScopeType, scopeId: string, bucket: string): string;
  /** That an event was counted: recognises a retried report within the dedupe window. */
  seenEvent(tenant: string, eventId: string): string;
  /** A hash of the last offset counted per stream (topic/partition): recognises a replay of the log. */
  appliedPositions(tenant: string): string;
  /** A SCAN pattern that finds every tenant's positions (and maybe more: check with isAppliedPositions). */
  appliedPositionsPattern(): string;
  isAppliedPositions(key: string): boolean;
  /** One budget member's bucket: a hash of `used`, `reserved` and `r:<reservation>` holds. */
  budgetBucket(tenant: string, budgetId: string, member: string, bucket: string): string;
  /** Expiry times of the holds on a budget bucket (a sorted set beside it). */
  budgetHolds(bucketKey: string): string;
  /**
   * That a budget member's alert at `pct` % went out for a period (calendar bucket, "all", or "rolling");
   * `"forecast"` for its exhaustion-forecast alert.
   */
  budgetAlert(tenant: string, budgetId: string, member: string, period: string, pct: number | "forecast"): string;
  /** A reservation: which bucket keys it holds how much on. */
  reservation(tenant: string, reservationId: string): string;
  /**
   * A tenant's reservations not yet settled or released: a sorted set by
   * expiry, and beside it a hash of what each would be charged (see
   * Ledger.expired).
   */
  unsettled(tenant: string): { byExpiry: string; charges: string };
  /** Every tenant's `unsettled(…).byExpiry` that may hold entries: where the sweep looks. */
  unsettledTenants(): string;
  /** A tenant's recent non-allow decisions of /v1/check: a capped stream (see the decision log). */
  recentDecisions(tenant: string): string;
  /** Every tenant whose `recentDecisions` may hold entries: what the operator's read looks through. */
  recentDecisionTenants(): string;
  /**
   * Whether the counters are complete: a hash with `partitions` (of the usage
   * topic) and one field per partition the aggregator has rebuilt or kept
   * since Redis last lost its data. Gone with the data, by construction.
   */
  countersState(): string;
}

// Total on any string (a lone surrogate made encodeURIComponent throw a URIError mid-check).
const enc = encodeIdPart;

export function createKeyBuilder(prefix = "tg"): KeyBuilder {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new Error(`invalid Redis key prefix ${JSON.stringify(prefix)}`);
  const tagStart = `${prefix}:${KEY_VERSION}:{`;
  const base = (tenant: string) => `${tagStart}${tenant}}`;
  return {
    prefix,
    tenant: (orgId) => (orgId ? `o=${enc(orgId)}` : NO_ORG_TENANT),
    counter: (tenant, scope, scopeId, bucket) => `${base(tenant)}:ctr:${scope}:${enc(scopeId)}:${bucket}`,
    seenEvent: (tenant, eventId) => `${base(tenant)}:seen:${enc(eventId)}`,
    appliedPositions: (tenant) => `${base(tenant)}:pos`,
    appliedPositionsPattern: () => `${prefix}:${KEY_VERSION}:{*}:pos`,
    // Tenant parts are encoded, so `{`, `}` and `:` cannot occur inside the tag.
    isAppliedPositions: (key) => key.startsWith(tagStart) && /^[^{}:]*\}:pos$/.test(key.slice(tagStart.length)),
    budgetBucket: (tenant, budgetId, member, bucket) => `${base(tenant)}:bud:${enc(budgetId)}:${enc(member)}:${bucket}`,
    budgetHolds: (bucketKey) => `${bucketKey}:holds`,
    budgetAlert: (tenant, budgetId, member, period, pct) =>
      `${base(tenant)}:alert:${enc(budgetId)}:${enc(member)}:${period}:${pct}`,
    reservation: (tenant, reservationId) => `${base(tenant)}:res:${enc(reservationId)}`,
    unsettled: (tenant) => ({ byExpiry: `${base(tenant)}:unsettled`, charges: `${base(tenant)}:unsettled:charges` }),
    unsettledTenants: () => `${prefix}:${KEY_VERSION}:unsettled-tenants`,
    recentDecisions: (tenant) => `${base(tenant)}:decisions`,
    recentDecisionTenants: () => `${prefix}:${KEY_VERSION}:decision-tenants`,
    countersState: () => `${prefix}:${KEY_VERSION}:counters-state`,
  };
}
