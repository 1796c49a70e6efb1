import type { Standing } from "./decide";
import type { BudgetWindow } from "./definition";

/**
 * Burn-rate forecast: at the rate of the recent past, when does a window
 * line's effective limit (grants included) run out?
 *
 * The rate. Beside every budget window line the ledger counts the same
 * metric on a rolling hour (12 slices of 5 minutes, like every rolling
 * window), in the same atomic step that applies the usage, and each slice
 * keeps the earliest usage time it holds. The rate is the usage in those
 * slices divided by the time since the earliest usage among them: for a
 * member busy for longer than an hour that is the 55–60 minutes the slices
 * cover, for a younger one (or one idle before) the time since it started.
 * A plain average rather than an EWMA: it needs only counters the ledger
 * already knows how to keep, and a steady rate gives an exact answer.
 *
 * Below MIN_RATE_SPAN_MS of history there is no rate: a few seconds of usage
 * say little about the next hours, and a forecast alert fires only once per
 * period, so a noisy one would use it up.
 */
export const RATE_WINDOW: BudgetWindow = { type: "rolling", seconds: 3600 };
export const MIN_RATE_SPAN_MS = 5 * 60_000;

export interface Forecast {
  /** now + remaining ÷ rate, rounded to the second. */
  projectedAtMs: number;
  /** Usage per hour at the recent rate (in the metric's unit), rounded. */
  ratePerHour: number;
  /** limit − used − reserved: holds are usage on its way. */
  remaining: number;
}

/**
 * The forecast of one window line, or null when there is none before the
 * window resets: no recent usage (rate 0) or too little history, the limit
 * already reached, or the projection at or after the reset. Lifetime
 * windows never reset: any projection counts. A rolling window "resets"
 * when its oldest slice leaves (its `resets_at`), which frees budget, so
 * only a projection before that is certain enough to warn about.
 */
export function forecast(limit: number, standing: Standing, resetsAtMs: number | null, nowMs: number): Forecast | null {
  const recent = standing.recent;
  if (!recent || recent.used <= 0 || recent.firstAtMs === null) return null;
  const spanMs = nowMs - recent.firstAtMs;
  if (spanMs < MIN_RATE_SPAN_MS) return null;
  const remaining = limit - standing.used - standing.reserved;
  if (remaining <= 0) return null;
  // remaining ÷ (used ÷ span), multiplied first: exact for whole numbers until 2^53.
  const projectedAtMs = Math.round((nowMs + (remaining * spanMs) / recent.used) / 1000) * 1000;
  if (resetsAtMs !== null && projectedAtMs >= resetsAtMs) return null;
  return { projectedAtMs, ratePerHour: Math.round((recent.used * 3_600_000) / spanMs), remaining };
}
