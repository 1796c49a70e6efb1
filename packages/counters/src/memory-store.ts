import type { UsageEvent } from "@tollgate/events";
import type { KeyBuilder } from "./keys";
import {
  assembleTotals,
  eventCounterTargets,
  eventIncrements,
  type IdentityQuery,
  TOTAL_FIELDS,
  type Totals,
  totalsReads,
  zeroTotals,
} from "./metrics";
import { type CounterStore, SEEN_EVENT_TTL_SECONDS } from "./store";

/**
 * Embedded mode's counters: the same keys and windows as Redis, in a Map.
 * Single-threaded JS makes each apply atomic. Expired entries are dropped
 * lazily when read and by a sweep, as Redis would expire them.
 */
export function createMemoryCounterStore(
  keys: KeyBuilder,
  clock: () => number = Date.now,
): CounterStore & {
  sweep(): void;
} {
  const counters = new Map<string, { totals: Totals; expiresAt: number }>();
  const seen = new Map<string, number>();

  const live = <V extends { expiresAt: number } | number>(map: Map<string, V>, key: string): V | undefined => {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    const expiresAt = typeof entry === "number" ? entry : entry.expiresAt;
    if (expiresAt <= clock()) {
      map.delete(key);
      return undefined;
    }
    return entry;
  };

  return {
    async apply(event: UsageEvent) {
      const now = clock();
      const seenKey = keys.seenEvent(keys.tenant(event.org_id), event.event_id);
      if (live(seen, seenKey) !== undefined) return false;
      seen.set(seenKey, now + SEEN_EVENT_TTL_SECONDS * 1000);
      const inc = eventIncrements(event);
      for (const target of eventCounterTargets(keys, event)) {
        const entry = live(counters, target.key) ?? { totals: zeroTotals(), expiresAt: 0 };
        for (const field of TOTAL_FIELDS) entry.totals[field] += inc[field];
        entry.expiresAt = now + target.ttlSeconds * 1000;
        counters.set(target.key, entry);
      }
      return true;
    },
    async totals(query: IdentityQuery, nowMs: number) {
      const reads = totalsReads(keys, query, nowMs);
      return assembleTotals(
        reads,
        reads.map((read) => ({ ...(live(counters, read.key)?.totals ?? zeroTotals()) })),
      );
    },
    async ping() {},
    sweep() {
      for (const key of counters.keys()) live(counters, key);
      for (const key of seen.keys()) live(seen, key);
    },
  };
}
