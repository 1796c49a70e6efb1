import type { Standing } from "./decide";

/**
 * The ledger of budgets: per bucket key, what was `used` (settled usage) and
 * what is `reserved` (live holds of checks with reserve=true). Two stores
 * implement it with the same semantics: Redis (Lua, distributed mode) and
 * memory (embedded mode).
 *
 * Holds expire by themselves: each has an expiry time, and every read or
 * write of a bucket first drops its expired holds, so a forgotten
 * reservation frees its budget at its TTL without a sweeper, and never leaks
 * budget permanently.
 */
export interface LedgerLine {
  /** Bucket keys whose sum is the standing, oldest first; holds go on the last. */
  keys: string[];
  holdsKeys: string[];
  limit: number;
  /** What this request holds on the line (in the line's metric). */
  amount: number;
  /** A hard line refuses the whole reservation when it would pass its limit. */
  hard: boolean;
  ttlSeconds: number;
  /**
   * A window line's recent-rate slices (the same metric on a rolling hour,
   * oldest first), read in the same step as the standing; none for rate limits.
   */
  rateKeys?: string[];
}

export interface Hold {
  reservationId: string;
  /** The reservation's record: which bucket keys it holds how much on. */
  recordKey: string;
  expiresAtMs: number;
}

export interface UsageIncrement {
  key: string;
  amount: number;
  ttlSeconds: number;
  /** A recent-rate slice: also keep the earliest usage time (ms) it holds, where the rate's span starts. */
  firstAtMs?: number;
}

export interface Ledger {
  standings(lines: LedgerLine[], nowMs: number): Promise<Standing[]>;
  /**
   * All or nothing: when no hard line would pass its limit with `amount`
   * added, hold `amount` on every line. Returns the standings before.
   */
  reserve(lines: LedgerLine[], hold: Hold, nowMs: number): Promise<{ held: boolean; standings: Standing[] }>;
  /**
   * Adds an event's usage once per event id (seen marker in the same atomic
   * step) and settles the reservation it names: its holds are removed, the
   * actual usage replaces them.
   */
  applyUsage(
    seen: { key: string; ttlSeconds: number },
    increments: UsageIncrement[],
    reservation: { recordKey: string; reservationId: string } | null,
    nowMs: number,
  ): Promise<boolean>;
  /** Which of these markers are set (alerts already sent). */
  marked(keys: string[], nowMs: number): Promise<boolean[]>;
  /** Sets markers, each for its TTL (0: for good). */
  mark(markers: Array<{ key: string; ttlSeconds: number }>, nowMs: number): Promise<void>;
  /** Removes a reservation's holds; false when it was already settled, released or expired. */
  release(reservation: { recordKey: string; reservationId: string }, nowMs: number): Promise<boolean>;
  ping(): Promise<void>;
}

/** The record field holding the reservation's expiry (ms); every other field is a bucket key. */
export const RECORD_EXPIRY_FIELD = "~expires";

/** How long a reservation record outlives its holds' expiry (for late settlement). */
export const RESERVATION_RECORD_GRACE_S = 3600;
