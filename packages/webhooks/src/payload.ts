import { createHash } from "node:crypto";
import type { AlertRecord, BudgetAlert, BudgetForecastAlert } from "@tollgate/budgets";
import type { WebhookEndpoint, WebhookEventType } from "./endpoints";

/** A message before it is addressed to an endpoint. */
export interface WebhookMessage {
  /** `webhook-id`: derived from what the message is about, so a re-sent alert keeps its id. */
  id: string;
  type: WebhookEventType;
  /** ISO time of the event (the body's `timestamp`). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** budget.threshold_reached: the alert record as published (its `limit` is the effective one, grants included). */
export function thresholdMessage(alert: BudgetAlert): WebhookMessage {
  return {
    id: `msg_${createHash("sha256").update(`threshold\u0000${alert.alert_id}`).digest("hex").slice(0, 32)}`,
    type: "budget.threshold_reached",
    timestamp: alert.at,
    data: { ...alert },
  };
}

/** budget.exhaustion_forecast: the forecast alert as published (projected time, rate per hour, remaining). */
export function forecastMessage(alert: BudgetForecastAlert): WebhookMessage {
  return {
    // Its own namespace: a forecast and a threshold alert never share a webhook-id.
    id: `msg_${createHash("sha256").update(`forecast\u0000${alert.alert_id}`).digest("hex").slice(0, 32)}`,
    type: "budget.exhaustion_forecast",
    timestamp: alert.at,
    data: { ...alert },
  };
}

/** The message of an alert record, by its type (records without one are threshold alerts). */
export function alertMessage(alert: AlertRecord): WebhookMessage {
  return alert.type === "budget.exhaustion_forecast" ? forecastMessage(alert) : thresholdMessage(alert);
}

export function testMessage(endpointId: string, nowMs: number, nonce: string): WebhookMessage {
  return {
    id: `msg_${createHash("sha256").update(`test\u0000${endpointId}\u0000${nonce}`).digest("hex").slice(0, 32)}`,
    type: "webhook.test",
    timestamp: new Date(nowMs).toISOString(),
    data: { endpoint_id: endpointId, message: "This is a test event from Tollgate." },
  };
}

/** The body sent to an endpoint: Standard Webhooks' `{"type", "timestamp", "data"}`, or a Slack message. */
export function bodyFor(endpoint: Pick<WebhookEndpoint, "format">, message: WebhookMessage): string {
  if (endpoint.format === "slack") return JSON.stringify(slackMessage(message));
  return JSON.stringify({ type: message.type, timestamp: message.timestamp, data: message.data });
}

/** A Slack incoming-webhook message: one line of text (the notification) and the same as a block. */
export function slackMessage(message: WebhookMessage): { text: string; blocks: unknown[] } {
  const d = message.data;
  let text: string;
  if (message.type === "budget.threshold_reached") {
    const resets = d.resets_at ? `resets ${String(d.resets_at)}` : "does not reset";
    text =
      `:warning: Budget *${String(d.budget_id)}* reached ${String(d.threshold_pct)}% for ${String(d.member)}: ` +
      `${String(d.used)} of ${String(d.limit)} ${String(d.metric)} (${resets})`;
  } else if (message.type === "budget.exhaustion_forecast") {
    const resets = d.resets_at ? `before it resets ${String(d.resets_at)}` : "(it does not reset)";
    text =
      `:hourglass: Budget *${String(d.budget_id)}* for ${String(d.member)} runs out at ` +
      `${String(d.projected_exhaustion_at)} ${resets} at the recent rate of ${String(d.rate_per_hour)} ` +
      `${String(d.metric)}/h: ${String(d.remaining)} of ${String(d.limit)} left`;
  } else {
    text = "Tollgate test event: this Slack webhook works.";
  }
  return { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] };
}
