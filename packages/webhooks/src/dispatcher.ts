import { createHash, randomUUID } from "node:crypto";
import type { AlertRecord } from "@tollgate/budgets";
import type { Logger } from "@tollgate/kit";
import { Webhook } from "standardwebhooks";
import { type Delivery, DeliveryLog } from "./deliveries";
import { liveSecrets, type WebhookEndpoint, type WebhookStore } from "./endpoints";
import type { WebhookSettings } from "./env";
import { alertMessage, bodyFor, type WebhookMessage } from "./payload";
import type { SecretCipher } from "./secrets";
import { sendWebhook } from "./send";

/** Jitter added to each scheduled delay (0–10 %): endpoints that failed together do not all retry in the same instant. */
const JITTER = 0.1;
/** A Retry-After longer than this is read as this: a receiver cannot park a message for a month. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;
/** Due deliveries read per poll. */
const PAGE = 500;
/**
 * Attempts in flight to one endpoint at most: a slow endpoint with a
 * backlog holds this many sockets, not hundreds. Up to PER_ENDPOINT_PAGE of
 * its due deliveries are read per poll (DeliveryLog.due's LIMIT BY), so its
 * backlog never crowds the others out of a page; they wait here in memory
 * (claimed, so no poll reads them again) and start as slots free up.
 */
const PER_ENDPOINT = 16;
const PER_ENDPOINT_PAGE = 200;

/** A new pending delivery of `message` to `endpoint`, due now; its id is derived, so scheduling twice is a no-op. */
export function deliveryFor(
  endpoint: WebhookEndpoint,
  message: WebhookMessage,
  nowMs: number,
): Omit<Delivery, "version"> {
  return {
    id: `dlv_${createHash("sha256").update(`${message.id}\u0000${endpoint.id}`).digest("hex").slice(0, 32)}`,
    endpoint_id: endpoint.id,
    org_id: endpoint.org_id ?? "",
    message_id: message.id,
    event_type: message.type,
    payload: bodyFor(endpoint, message),
    state: "pending",
    attempts: 0,
    next_attempt_ms: nowMs,
    created_ms: nowMs,
  };
}

/** A replay: the same message (webhook-id and body) as a new delivery with attempts of its own. */
export function replayOf(delivery: Delivery, nowMs: number): Omit<Delivery, "version"> {
  return {
    ...delivery,
    id: `dlv_${randomUUID().replaceAll("-", "")}`,
    state: "pending",
    attempts: 0,
    next_attempt_ms: nowMs,
    created_ms: nowMs,
  };
}

/** Whether an endpoint takes this message: enabled, subscribed to its type, and of the alert's org (or the operator's). */
export function endpointTakes(endpoint: WebhookEndpoint, type: string, org: string | null): boolean {
  if (!endpoint.enabled) return false;
  if (endpoint.events.length > 0 && !endpoint.events.includes(type as WebhookEndpoint["events"][number])) return false;
  return endpoint.org_id === null || endpoint.org_id === org;
}

export interface DispatcherDeps {
  log: DeliveryLog;
  endpoints: Pick<WebhookStore, "all" | "get" | "put" | "refresh">;
  /** The org of a budget (null: every org's budget; undefined: unknown) — whose endpoints receive its alerts. */
  budgetOrg: (budgetId: string) => string | null | undefined;
  cipher: SecretCipher;
  settings: WebhookSettings;
  logger: Logger;
  clock?: () => number;
  random?: () => number;
  /** How often the schedule is read for due deliveries. */
  pollMs?: number;
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

/**
 * The one dispatcher, in both modes (in process in embedded mode, beside the
 * aggregator in distributed mode). Alerts become pending rows of the
 * durable schedule (DeliveryLog) before their source is acknowledged; a
 * poll every `pollMs` sends what is due. Each attempt runs on its own
 * (nothing awaits another endpoint), with the per-attempt timeout of
 * sendWebhook, so one slow endpoint never delays the others. A crash loses
 * nothing: a row stays pending until an attempt's outcome is written, and
 * the restarted dispatcher reads it back — at least once, with the same
 * webhook-id, which receivers deduplicate by.
 */
export function createWebhookDispatcher(deps: DispatcherDeps) {
  const clock = deps.clock ?? Date.now;
  const random = deps.random ?? Math.random;
  // Claimed: read from the schedule and queued or being attempted here (excluded from the next polls).
  const inFlight = new Set<string>();
  const queued = new Map<string, Delivery[]>();
  const running = new Map<string, number>();
  // The version this process last wrote per delivery: a poll that read the
  // row before that write must not send it again.
  const written = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  const remember = (rows: Delivery[]) => {
    for (const row of rows) written.set(row.id, row.version);
    if (written.size > 50_000) {
      for (const id of [...written.keys()].slice(0, 25_000)) if (!inFlight.has(id)) written.delete(id);
    }
  };

  const write = async (rows: Array<Omit<Delivery, "version">>) => {
    const stored = await deps.log.write(rows);
    remember(stored);
    return stored;
  };

  const disable = async (endpoint: WebhookEndpoint, reason: string) => {
    const current = deps.endpoints.get(endpoint.id) ?? endpoint;
    if (!current.enabled) return;
    await deps.endpoints.put({ ...current, enabled: false, disabled_reason: reason, updated_at_ms: clock() });
    deps.logger.warn({ endpoint: endpoint.id, reason }, "webhook endpoint disabled");
  };

  const signatures = (endpoint: WebhookEndpoint, delivery: Delivery, at: Date): string =>
    liveSecrets(endpoint.secrets, at.getTime())
      .map((s) =>
        new Webhook(deps.cipher.decrypt(s.encrypted, endpoint.id)).sign(delivery.message_id, at, delivery.payload),
      )
      .join(" ");

  /** One attempt; `sent` is called once the endpoint has answered (or not), before the outcome is written. */
  const attempt = async (delivery: Delivery, sent: () => void): Promise<void> => {
    const endpoint = deps.endpoints.get(delivery.endpoint_id);
    const nowMs = clock();
    const number = delivery.attempts + 1;
    if (!endpoint?.enabled) {
      const error = endpoint
        ? `endpoint disabled${endpoint.disabled_reason ? ` (${endpoint.disabled_reason})` : ""}`
        : "endpoint deleted";
      await deps.log.record({ ...attemptBase(delivery, number, nowMs), error });
      await write([{ ...delivery, state: "failed", attempts: number }]);
      return;
    }
    const at = new Date(nowMs);
    const result = await sendWebhook(
      endpoint.url,
      delivery.payload,
      {
        "webhook-id": delivery.message_id,
        "webhook-timestamp": String(Math.floor(nowMs / 1000)),
        "webhook-signature": signatures(endpoint, delivery, at),
      },
      { policy: deps.settings, timeoutMs: deps.settings.timeoutMs },
    );
    sent();
    await deps.log.record({
      ...attemptBase(delivery, number, nowMs),
      status: result.status,
      latency_ms: result.latencyMs,
      error: result.error,
      response: result.response,
    });
    if (result.status >= 200 && result.status < 300) {
      await write([{ ...delivery, state: "delivered", attempts: number }]);
      return;
    }
    if (result.status === 410) {
      await write([{ ...delivery, state: "failed", attempts: number }]);
      await disable(endpoint, `410 Gone at ${at.toISOString()}`);
      return;
    }
    const schedule = deps.settings.retrySchedule;
    if (number > schedule.length) {
      await write([{ ...delivery, state: "failed", attempts: number }]);
      await disable(endpoint, `failed for the whole retry schedule (${number} attempts), last at ${at.toISOString()}`);
      return;
    }
    const scheduled = (schedule[number - 1] as number) * (1 + random() * JITTER);
    const delay = Math.max(scheduled, Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
    await write([{ ...delivery, attempts: number, next_attempt_ms: nowMs + Math.round(delay) }]);
    wakeAt(delay);
  };

  /** Starts the endpoint's queued deliveries while it has free slots. */
  const pump = (endpointId: string) => {
    const queue = queued.get(endpointId) ?? [];
    while (queue.length > 0 && (running.get(endpointId) ?? 0) < PER_ENDPOINT && !stopped) {
      run(queue.shift() as Delivery);
    }
    if (queue.length === 0) queued.delete(endpointId);
  };

  const run = (delivery: Delivery) => {
    running.set(delivery.endpoint_id, (running.get(delivery.endpoint_id) ?? 0) + 1);
    // The endpoint's slot is free once it has answered: writing the outcome (group-committed) holds no socket of it.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (running.get(delivery.endpoint_id) ?? 1) - 1;
      if (left > 0) running.set(delivery.endpoint_id, left);
      else running.delete(delivery.endpoint_id);
      pump(delivery.endpoint_id);
    };
    attempt(delivery, release)
      .catch((err: unknown) => {
        // The row stays pending and due: the next poll tries again (the store was the trouble, not the endpoint).
        deps.logger.warn({ err, delivery: delivery.id }, "webhook attempt not recorded; retrying");
      })
      .finally(() => {
        release();
        inFlight.delete(delivery.id);
        // Half a page done: fetch the next at once rather than at the next poll (a backlog drains at full speed).
        if (inFlight.size <= PAGE / 2) void tick();
      });
  };

  const poll = async () => {
    const due = await deps.log.due(clock(), [...inFlight], PAGE, PER_ENDPOINT_PAGE);
    // Sign with the endpoint as it is now: a rotation or URL change made through another instance (distributed: the
    // API is enforcement's) a moment ago must not wait for the periodic refresh.
    if (due.some((d) => !inFlight.has(d.id))) await deps.endpoints.refresh();
    const touched = new Set<string>();
    for (const delivery of due) {
      if (inFlight.has(delivery.id)) continue;
      if ((written.get(delivery.id) ?? 0) > delivery.version) continue;
      inFlight.add(delivery.id);
      queued.set(delivery.endpoint_id, [...(queued.get(delivery.endpoint_id) ?? []), delivery]);
      touched.add(delivery.endpoint_id);
    }
    for (const endpointId of touched) pump(endpointId);
  };

  /** Polls now (or right after the poll in progress); one poll at a time. */
  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (polling) {
      again = true;
      return polling;
    }
    polling = poll()
      .catch((err: unknown) => deps.logger.warn({ err }, "webhook schedule unreadable; polling again"))
      .finally(() => {
        polling = null;
        if (again) {
          again = false;
          void tick();
        }
      });
    return polling;
  };

  const wakeAt = (delayMs: number) => {
    if (stopped || delayMs > (deps.pollMs ?? 250) * 4) return;
    setTimeout(() => void tick(), delayMs).unref();
  };

  return {
    /** Schedules each alert for every endpoint that takes it; resolves once the schedule holds them (durable). */
    async deliverAlerts(alerts: ReadonlyArray<AlertRecord>): Promise<number> {
      const nowMs = clock();
      const rows: Array<Omit<Delivery, "version">> = [];
      for (const alert of alerts) {
        const org = deps.budgetOrg(alert.budget_id);
        const message = alertMessage(alert);
        for (const endpoint of deps.endpoints.all()) {
          if (endpointTakes(endpoint, message.type, org ?? null)) rows.push(deliveryFor(endpoint, message, nowMs));
        }
      }
      // A replayed alert (at least once upstream) must not schedule its delivery twice.
      const existing = await deps.log.existing(rows.map((r) => r.id));
      const fresh = rows.filter((r) => !existing.has(r.id));
      await write(fresh);
      if (fresh.length > 0) void tick();
      return fresh.length;
    },
    /** Reads the schedule back and keeps polling it. */
    start(): void {
      stopped = false;
      timer = setInterval(() => void tick(), deps.pollMs ?? 250);
      timer.unref();
      void tick();
    },
    /** A delivery was scheduled elsewhere in this process (test, replay): send it now rather than at the next poll. */
    poke(): void {
      void tick();
    },
    /** Stops polling; attempts in flight finish (each within its timeout). */
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await polling;
      // Queued ones stay pending in the schedule; attempts under way finish (each within its timeout).
      for (const delivery of [...queued.values()].flat()) inFlight.delete(delivery.id);
      queued.clear();
      const deadline = Date.now() + deps.settings.timeoutMs + 1_000;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

function attemptBase(delivery: Delivery, attempt: number, nowMs: number) {
  return {
    delivery_id: delivery.id,
    endpoint_id: delivery.endpoint_id,
    attempt,
    at_ms: nowMs,
    status: 0,
    latency_ms: 0,
    error: "",
    response: "",
  };
}

export { DeliveryLog };
