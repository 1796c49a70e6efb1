import type { LogPosition } from "@tollgate/events";
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

/** A reservation, as the ledger finds it: its record and its tenant's index of unsettled ones. */
export interface ReservationRef {
  reservationId: string;
  /** The reservation's record: which bucket keys it holds how much on. */
  recordKey: string;
  unsettled: { byExpiry: string; charges: string };
}

export interface Hold extends ReservationRef {
  expiresAtMs: number;
  /**
   * What the reservation is charged if it expires without being settled or
   * released (an estimated usage event, JSON): kept until one of the three.
   */
  charge: string;
}

/** A reservation past its expiry, neither settled nor released: to be charged. */
export interface UnsettledReservation {
  reservationId: string;
  expiresAtMs: number;
  charge: string;
}

/** What one event adds to one budget bucket's `used`. */
export interface UsageIncrement {
  key: string;
  amount: number;
  ttlSeconds: number;
  /** A recent-rate slice: also keep the earliest usage time (ms) it holds, where the rate's span starts. */
  firstAtMs?: number;
}

/** A running total: a counter without a limit, given every one of the event's counts. */
export interface CounterIncrement {
  key: string;
  /** Set when the counter is created (its bucket's span and a margin), not extended by later events. */
  ttlSeconds: number;
}

/**
 * One event as the ledger counts it: every bucket it adds to (running
 * totals and budgets alike), the reservation it settles, and what makes a
 * second delivery of it a no-op.
 */
export interface CountedEvent {
  /**
   * Recognises a retried report (the same event_id sent again, by an agent or
   * a producer) for `dedupeWindowS` after it was counted.
   */
  markerKey: string;
  /**
   * Recognises a replay of the log (crash before the offset commit,
   * rebalance) however late it comes: offsets of a stream count once.
   */
  position: LogPosition | null;
  /**
   * What the event counts in each running total (tokens, input and output
   * tokens, cost, requests — `requests` is 1 for every event).
   */
  counts: Readonly<Record<string, number>>;
  counters: ReadonlyArray<CounterIncrement>;
  /** Budget buckets and their recent-rate slices. */
  increments: UsageIncrement[];
  reservation: ReservationRef | null;
}

export interface Ledger {
  standings(lines: LedgerLine[], nowMs: number): Promise<Standing[]>;
  /**
   * All or nothing: when no hard line would pass its limit with `amount`
   * added, hold `amount` on every line. Returns the standings before.
   */
  reserve(lines: LedgerLine[], hold: Hold, nowMs: number): Promise<{ held: boolean; standings: Standing[] }>;
  /**
   * Counts one tenant's events, in order, in one atomic step each (one Lua
   * call for them all in Redis): an event already counted — its position at
   * or before the last one applied for its stream (`positionsKey` holds
   * them, per tenant), or its marker set — adds nothing; otherwise its
   * increments are added, its marker set for `dedupeWindowS`, its position
   * recorded, and the reservation it names settled (holds removed, the
   * actual usage replaces them). Returns, per event, whether it counted.
   */
  count(positionsKey: string, events: CountedEvent[], dedupeWindowS: number, nowMs: number): Promise<boolean[]>;
  /** The named fields of bucket keys, as counted (0 for absent), for the running totals. */
  fields(keys: string[], names: ReadonlyArray<string>, nowMs: number): Promise<number[][]>;
  /** Which of these markers are set (alerts already sent). */
  marked(keys: string[], nowMs: number): Promise<boolean[]>;
  /** Sets markers, each for its TTL (0: for good). */
  mark(markers: Array<{ key: string; ttlSeconds: number }>, nowMs: number): Promise<void>;
  /** Removes a reservation's holds; false when it was already settled, released or expired. */
  release(reservation: ReservationRef, nowMs: number): Promise<boolean>;
  /**
   * Reservations whose expiry has passed and that were neither settled nor
   * released, up to `limit`, oldest first: what the unsettled sweep charges.
   * An entry stays until the charge is counted (which settles it, see
   * `count`) or it is released; `postpone` keeps the sweep from sending it
   * again before `untilMs`.
   */
  expired(nowMs: number, limit: number): Promise<UnsettledReservation[]>;
  postpone(refs: ReservationRef[], untilMs: number): Promise<void>;
  ping(): Promise<void>;
}

/** The record field holding the reservation's expiry (ms); every other field is a bucket key. */
export const RECORD_EXPIRY_FIELD = "~expires";

/** How long a reservation record outlives its holds' expiry (for late settlement). */
export const RESERVATION_RECORD_GRACE_S = 3600;
