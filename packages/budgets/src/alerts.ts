import { createHash } from "node:crypto";
import type { KeyBuilder } from "@tollgate/counters";
import type { Standing } from "./decide";
import { forecast } from "./forecast";
import type { Line } from "./plan";

/**
 * A budget member's usage reached one of its alert thresholds
 * (`alert_thresholds_pct`) in a period: published on tollgate.alerts.v1.
 * `alert_id` is the same for the same budget, member, period and threshold,
 * so a consumer that sees it twice (delivery is at least once) can drop it.
 */
export interface BudgetAlert {
  /** Absent in records published before forecasts existed. */
  type?: "budget.threshold_reached";
  alert_id: string;
  budget_id: string;
  scope: { type: string; id: string };
  member: string;
  metric: string;
  threshold_pct: number;
  limit: number;
  used: number;
  /** The window's period: a calendar bucket, "all" (lifetime) or "rolling". */
  period: string;
  resets_at: string | null;
  /** The event whose usage was applied when the threshold was found reached. */
  event_id: string;
  at: string;
}

/**
 * A budget member's window runs out before it resets at the recent rate
 * (see forecast.ts): published beside threshold alerts, once per budget,
 * member and period, for budgets that ask for alerts (any
 * `alert_thresholds_pct`).
 */
export interface BudgetForecastAlert {
  type: "budget.exhaustion_forecast";
  alert_id: string;
  budget_id: string;
  scope: { type: string; id: string };
  member: string;
  metric: string;
  /** The effective limit, grants included. */
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  /** The recent rate: usage per hour over (at most) the last hour. */
  rate_per_hour: number;
  projected_exhaustion_at: string;
  period: string;
  resets_at: string | null;
  event_id: string;
  at: string;
}

/** What goes out on tollgate.alerts.v1 (and to webhooks). */
export type AlertRecord = BudgetAlert | BudgetForecastAlert;

/** An alert a line is due, with the marker that says it went out in its period. */
export interface DueAlert {
  alert: AlertRecord;
  key: string;
  ttlSeconds: number;
}

/**
 * The alerts one window line is due after a batch, from its standing (read
 * with its recent-rate slices at `nowMs`): its forecast when that falls
 * before the reset, and each threshold reached. Whether one already went
 * out is the caller's to check, by the marker key.
 */
export function alertsDue(
  keys: KeyBuilder,
  tenant: string,
  found: { line: Line; period: string; eventId: string },
  standing: Standing,
  nowMs: number,
): DueAlert[] {
  const { line, period, eventId } = found;
  const due: DueAlert[] = [];
  const used = standing.used;
  // Rolling: at most once per window length; calendar: until the period's buckets expire.
  const ttlSeconds = line.window.type === "rolling" ? line.window.seconds : line.ttlSeconds;
  const common = {
    budget_id: line.budget.id,
    scope: line.budget.scope,
    member: line.member,
    metric: line.metric,
    limit: line.limit,
    used,
  };
  const tail = {
    period,
    resets_at: line.resetsAtMs === null ? null : new Date(line.resetsAtMs).toISOString(),
    event_id: eventId,
    at: new Date(nowMs).toISOString(),
  };
  const projected = forecast(line.limit, standing, line.resetsAtMs, nowMs);
  if (projected) {
    const key = keys.budgetAlert(tenant, line.budget.id, line.member, period, "forecast");
    due.push({
      key,
      ttlSeconds,
      alert: {
        type: "budget.exhaustion_forecast",
        alert_id: alertId(key),
        ...common,
        reserved: standing.reserved,
        remaining: projected.remaining,
        rate_per_hour: projected.ratePerHour,
        projected_exhaustion_at: new Date(projected.projectedAtMs).toISOString(),
        ...tail,
      },
    });
  }
  for (const pct of line.budget.alert_thresholds_pct) {
    // Integers only: used·100 ≥ limit·pct, no float percentage.
    if (used * 100 < line.limit * pct) continue;
    const key = keys.budgetAlert(tenant, line.budget.id, line.member, period, pct);
    due.push({
      key,
      ttlSeconds,
      alert: { type: "budget.threshold_reached", alert_id: alertId(key), ...common, threshold_pct: pct, ...tail },
    });
  }
  return due;
}

/** The same for the same marker key: a consumer that sees an alert twice (at least once) drops it by this. */
function alertId(markerKey: string): string {
  return createHash("sha256").update(markerKey).digest("hex").slice(0, 32);
}
