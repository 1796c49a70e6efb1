import calculateSlot from "cluster-key-slot";
import { describe, expect, it } from "vitest";
import { createKeyBuilder, type KeyBuilder } from "./keys";

/**
 * The slot rules a Redis Cluster imposes: a Lua script (and a cluster
 * pipeline) may only touch keys of one slot. The scripts touch one tenant's
 * keys, so every key of a tenant must hash to one slot — the slot of its
 * `{tenant}` tag, whatever the prefix, budget, member or id — and only the
 * two registry keys (read by single-key commands) may live elsewhere.
 */
describe("key builder slots (Redis Cluster)", () => {
  const keys = createKeyBuilder("tg");

  /** Every key kind the builder makes for a tenant; a new kind fails the coverage test below until listed here. */
  const tenantKeys: Record<string, (k: KeyBuilder, tenant: string) => string[]> = {
    counter: (k, t) => [k.counter(t, "user", "u:1", "d20261130"), k.counter(t, "org", "{x}", "m202611")],
    seenEvent: (k, t) => [k.seenEvent(t, "evt_{1}")],
    appliedPositions: (k, t) => [k.appliedPositions(t)],
    budgetBucket: (k, t) => [k.budgetBucket(t, "user-day", "u1", "d20261130"), k.budgetBucket(t, "b#rate", "}", "s1")],
    budgetHolds: (k, t) => [k.budgetHolds(k.budgetBucket(t, "user-day", "u1", "d20261130"))],
    budgetAlert: (k, t) => [k.budgetAlert(t, "b", "m", "all", 80), k.budgetAlert(t, "b", "m", "rolling", "forecast")],
    reservation: (k, t) => [k.reservation(t, "res_{9}")],
    unsettled: (k, t) => {
      const { byExpiry, charges } = k.unsettled(t);
      // The ledger's sweep derives the charges key from the index it finds in the registry.
      return [byExpiry, charges, `${byExpiry}:charges`];
    },
    recentDecisions: (k, t) => [k.recentDecisions(t)],
  };
  /** Not a tenant's key: read by single-key commands only (or no key at all). */
  const notTenantKeys = [
    "prefix",
    "tenant",
    "appliedPositionsPattern",
    "isAppliedPositions",
    "unsettledTenants",
    "recentDecisionTenants",
    "countersState",
  ];

  it("knows every key kind the builder has", () => {
    expect(Object.keys(keys).sort()).toEqual([...Object.keys(tenantKeys), ...notTenantKeys].sort());
  });

  it("puts every key of one tenant in the slot of its tag, whatever the prefix", () => {
    for (const org of ["acme", null, "a}b{c", "用户", "o=acme"]) {
      const tenant = keys.tenant(org);
      const slot = calculateSlot(tenant);
      for (const prefix of ["tg", "test-run_1"]) {
        const builder = createKeyBuilder(prefix);
        for (const [kind, make] of Object.entries(tenantKeys)) {
          for (const key of make(builder, tenant))
            expect({ kind, key, slot: calculateSlot(key) }).toEqual({ kind, key, slot });
        }
      }
    }
  });

  it("spreads different tenants over slots (and so over the masters)", () => {
    const slots = new Set(
      Array.from({ length: 50 }, (_, i) => calculateSlot(keys.reservation(keys.tenant(`org-${i}`), "r"))),
    );
    expect(slots.size).toBeGreaterThan(40);
    expect(calculateSlot(keys.seenEvent(keys.tenant("acme"), "e"))).not.toBe(
      calculateSlot(keys.seenEvent(keys.tenant("beta"), "e")),
    );
  });
});
