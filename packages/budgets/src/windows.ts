import { DateTime } from "luxon";
import type { BudgetWindow } from "./definition";
import { RATE_WINDOW } from "./forecast";

/**
 * Where a budget's window stands at a moment: the buckets whose sum is the
 * window's usage, the bucket new usage goes into, and when it resets.
 *
 * Windows roll over by construction: a bucket's id names its period, so a
 * new day (week, month, rolling slice) starts from an absent counter. No
 * reset job, nothing to forget or race.
 *
 * - calendar: one bucket, the day / ISO week (Monday) / month in the
 *   budget's time zone, computed with luxon so DST days are 23 or 25 hours.
 * - rolling N s: 12 slices of N/12 s (at least 1 s); the window is the
 *   current slice and the 11 before it. Usage leaves the window one slice at
 *   a time: exact to the slice, and a check reads 12 counters, not one per
 *   event.
 * - lifetime: one bucket, forever.
 */
export interface WindowPosition {
  /** Bucket ids, oldest first; the last is the current one. */
  buckets: string[];
  /** When the current calendar window ends / the oldest rolling slice drops out; null for lifetime. */
  resetsAtMs: number | null;
  /** How long a bucket must live (s): past the window's end, so late events still land. */
  ttlSeconds: number;
}

const ROLLING_SLICES = 12;
const LATE_EVENT_GRACE_S = 3 * 24 * 3600;

/**
 * A position holds for its whole period, and every check and event asks for
 * the current one: cache it per window until the period ends (time-zone math
 * was a sixteenth of a check's CPU). Bounded: budgets share few windows.
 */
const cache = new Map<string, { fromMs: number; untilMs: number; position: WindowPosition }>();
const CACHE_LIMIT = 10_000;

export function windowPosition(window: BudgetWindow, atMs: number): WindowPosition {
  const key =
    window.type === "calendar"
      ? `c:${window.unit}:${window.timezone}`
      : window.type === "rolling"
        ? `r:${window.seconds}`
        : "l";
  const hit = cache.get(key);
  if (hit && atMs >= hit.fromMs && atMs < hit.untilMs) return hit.position;
  const { position, fromMs } = computePosition(window, atMs);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, { fromMs, untilMs: position.resetsAtMs ?? Number.POSITIVE_INFINITY, position });
  return position;
}

function computePosition(window: BudgetWindow, atMs: number): { position: WindowPosition; fromMs: number } {
  switch (window.type) {
    case "calendar": {
      const local = DateTime.fromMillis(atMs, { zone: window.timezone });
      const start = local.startOf(window.unit === "week" ? "week" : window.unit); // luxon weeks start on Monday
      const end = start.plus({ [`${window.unit}s`]: 1 });
      const spanS = Math.ceil((end.toMillis() - start.toMillis()) / 1000);
      return {
        position: {
          buckets: [calendarBucketId(window.unit, start)],
          resetsAtMs: end.toMillis(),
          ttlSeconds: spanS + LATE_EVENT_GRACE_S,
        },
        fromMs: start.toMillis(),
      };
    }
    case "rolling": {
      const sliceMs = rollingSliceMs(window.seconds);
      const slices = Math.ceil((window.seconds * 1000) / sliceMs);
      const current = Math.floor(atMs / sliceMs);
      const buckets: string[] = [];
      for (let i = current - slices + 1; i <= current; i++) buckets.push(`r${sliceMs / 1000}s${i}`);
      return {
        position: {
          buckets,
          resetsAtMs: (current + 1) * sliceMs,
          // Usage older than the window no longer counts: no grace needed.
          ttlSeconds: window.seconds + Math.ceil(sliceMs / 1000),
        },
        fromMs: current * sliceMs,
      };
    }
    case "lifetime":
      return { position: { buckets: ["all"], resetsAtMs: null, ttlSeconds: 0 }, fromMs: Number.NEGATIVE_INFINITY };
  }
}

/** The bucket that usage happening at `atMs` belongs to. */
export function bucketAt(window: BudgetWindow, atMs: number): string {
  const { buckets } = windowPosition(window, atMs);
  return buckets[buckets.length - 1] as string;
}

export function rollingSliceMs(seconds: number): number {
  return Math.max(1, Math.ceil(seconds / ROLLING_SLICES)) * 1000;
}

function calendarBucketId(unit: "day" | "week" | "month", start: DateTime): string {
  // The local start date names the bucket; the zone is part of the budget, not the id.
  if (unit === "month") return `m${start.toFormat("yyyyLL")}`;
  if (unit === "week") return `w${start.toFormat("kkkkWW")}`;
  return `d${start.toFormat("yyyyLLdd")}`;
}

/** When the window that is open at `atMs` began (0 for lifetime): how far back a rebuild must read. */
export function windowStartMs(window: BudgetWindow, atMs: number): number {
  switch (window.type) {
    case "calendar":
      return DateTime.fromMillis(atMs, { zone: window.timezone })
        .startOf(window.unit === "week" ? "week" : window.unit)
        .toMillis();
    case "rolling": {
      const sliceMs = rollingSliceMs(window.seconds);
      const slices = Math.ceil((window.seconds * 1000) / sliceMs);
      return (Math.floor(atMs / sliceMs) - slices + 1) * sliceMs;
    }
    case "lifetime":
      return 0;
  }
}

/**
 * How far back the open windows reach — what a rebuild of the counters must replay
 * (the aggregator after Redis lost its data, embedded mode at every start): the UTC month for running totals, every budget's window, and the
 * hour of the recent rate that forecasts read (the first hour of a month or a day reaches into the one before).
 */
export function oldestOpenWindow(budgets: ReadonlyArray<{ window: BudgetWindow }>, nowMs: number): number {
  const now = new Date(nowMs);
  let from = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  if (budgets.length > 0) from = Math.min(from, windowStartMs(RATE_WINDOW, nowMs));
  for (const budget of budgets) from = Math.min(from, windowStartMs(budget.window, nowMs));
  return from;
}
