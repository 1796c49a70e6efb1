import type { UsageEvent } from "@tollgate/events";
import type { IdentityQuery, UsageTotals } from "./metrics";

/**
 * Running usage totals per identity and window, applied with an exactly-once
 * effect per event_id. Two implementations share the key builder and window
 * math: Redis (distributed mode) and memory (embedded mode).
 */
export interface CounterStore {
  /** Adds the event to all its counters; false when this event_id was already applied. */
  apply(event: UsageEvent): Promise<boolean>;
  totals(query: IdentityQuery, nowMs: number): Promise<UsageTotals>;
  ping(): Promise<void>;
}

/** How long an applied event_id is remembered: past the longest window a duplicate could still change. */
export const SEEN_EVENT_TTL_SECONDS = 62 * 24 * 3600;
