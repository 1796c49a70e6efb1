import { createServer } from "node:http";
import type { BudgetAlert } from "@tollgate/budgets";
import { createLogger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, freshClickHouseDatabase, runId } from "../../../test/support/engines";
import { eventually, freePort } from "../../../test/support/processes";
import { startReceiver, verify } from "../../../test/support/webhook-receiver";
import { DeliveryLog } from "./deliveries";
import { createWebhookDispatcher, type WebhookDispatcher } from "./dispatcher";
import { newEndpoint, rotated, type WebhookEndpoint, WebhookStore } from "./endpoints";
import type { WebhookSettings } from "./env";
import { createSecretCipher } from "./secrets";

// The dispatcher on the real ClickHouse server (18.16: the write path of
// distributed mode), sending to a receiver on loopback that checks every
// delivery with standardwebhooks. Embedded mode (chDB) is covered end to
// end in test/e2e/webhooks.e2e.test.ts.
const cipher = createSecretCipher("a-master-key-of-at-least-24-chars");
const logger = createLogger("webhooks-test", "silent");
let store: SqlStore;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const running: WebhookDispatcher[] = [];
const stores: WebhookStore[] = [];

beforeAll(async () => {
  store = await freshClickHouseDatabase();
  receiver = await startReceiver();
});
// One dispatcher at a time: each polls the whole schedule, with its own settings.
// And each test's endpoints only: an operator's endpoint takes every alert.
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  for (const endpoints of stores.splice(0)) endpoints.stop();
  const all = new WebhookStore(store);
  await all.refresh();
  for (const e of all.all()) await all.delete(e.id);
});
afterAll(async () => {
  await receiver.close();
  await dropDatabase(store);
});

const base: WebhookSettings = {
  retrySchedule: [200, 400],
  allowHttp: true,
  allowPrivate: true,
  timeoutMs: 2_000,
  rotationOverlapSeconds: 60,
};

async function dispatcher(settings: Partial<WebhookSettings> = {}, clock: () => number = Date.now) {
  const endpoints = new WebhookStore(store, { refreshMs: 100 });
  await endpoints.start();
  stores.push(endpoints);
  const d = createWebhookDispatcher({
    log: new DeliveryLog(store, clock),
    endpoints,
    budgetOrg: (id) => (id.startsWith("acme") ? "acme" : null),
    cipher,
    settings: { ...base, ...settings },
    logger,
    clock,
    pollMs: 50,
  });
  d.start();
  running.push(d);
  return { d, endpoints };
}

async function endpoint(
  endpoints: WebhookStore,
  url: string,
  org: string | null = null,
): Promise<{ e: WebhookEndpoint; secret: string }> {
  const { endpoint: e, secret } = newEndpoint({ url }, org, cipher, Date.now());
  await endpoints.put(e);
  return { e, secret };
}

function alert(budget = `b-${runId()}`, pct = 80): BudgetAlert {
  return {
    alert_id: runId("al"),
    budget_id: budget,
    scope: { type: "user", id: "*" },
    member: "u1",
    metric: "tokens",
    threshold_pct: pct,
    limit: 1000,
    used: 800,
    period: "d20261129",
    resets_at: "2026-11-30T00:00:00.000Z",
    event_id: "e1",
    at: new Date().toISOString(),
  };
}

const attemptsOf = async (endpointId: string) =>
  (await new DeliveryLog(store).page(endpointId, 10, null)).flatMap((d) => d.attempt_log);

describe("webhook dispatcher (ClickHouse server)", () => {
  it("retries 500, 500 and delivers the third attempt on schedule, with one webhook-id", async () => {
    const { d, endpoints } = await dispatcher();
    const path = `/${runId()}`;
    receiver.answer(path, [{ status: 500 }, { status: 500 }, { status: 200 }]);
    const { e, secret } = await endpoint(endpoints, receiver.url(path));
    expect(await d.deliverAlerts([alert()])).toBe(1);
    const got = await eventually(
      async () => (receiver.received(path).length >= 3 ? receiver.received(path) : undefined),
      "3 attempts",
    );
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(1);
    for (const r of got) expect(verify(secret, r)).toMatchObject({ type: "budget.threshold_reached" });
    const [a, b, c] = got.map((r) => r.atMs) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(200);
    expect(c - b).toBeGreaterThanOrEqual(400);
    const log = await eventually(async () => {
      const [delivery] = await new DeliveryLog(store).page(e.id, 10, null);
      return delivery?.state === "delivered" ? delivery : undefined;
    }, "delivered");
    expect(log.attempt_log.map((x) => x.status)).toEqual([200, 500, 500]);
    expect(receiver.received(path)).toHaveLength(3);
  });

  it("a receiver down for 30 s (connection refused) is delivered once it is back", async () => {
    const { d, endpoints } = await dispatcher({ retrySchedule: Array(20).fill(4_000) });
    const port = await freePort();
    const { e, secret } = await endpoint(endpoints, `http://127.0.0.1:${port}/back`);
    const downSince = Date.now();
    await d.deliverAlerts([alert()]);
    await eventually(async () => ((await attemptsOf(e.id)).length >= 2 ? true : undefined), "two refused attempts");
    // The outage's length is the scenario (as the broker-down test's 20 s), not a wait for something to happen.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - downSince))));
    expect((await attemptsOf(e.id)).length).toBeGreaterThanOrEqual(7); // still retrying every 4 s
    const got: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
        got.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      await eventually(async () => (got.length === 1 ? true : undefined), "delivered after the receiver is back");
      // The receiver has the body before the dispatcher has the answer and records the attempt.
      const attempts = await eventually(async () => {
        const recorded = await attemptsOf(e.id);
        return recorded[0]?.status === 0 ? undefined : recorded;
      }, "the delivered attempt recorded");
      expect(attempts[0]?.status).toBe(204);
      expect(attempts.slice(1).every((a) => a.status === 0 && /ECONNREFUSED/.test(a.error))).toBe(true);
    } finally {
      server.close();
    }
  });

  it("posts a Slack message, signed, to an endpoint with format slack", async () => {
    const { d, endpoints } = await dispatcher();
    const path = `/${runId()}`;
    const { endpoint: e, secret } = newEndpoint({ url: receiver.url(path), format: "slack" }, null, cipher, Date.now());
    await endpoints.put(e);
    await d.deliverAlerts([alert("slack-budget", 80)]);
    const [got] = await eventually(
      async () => (receiver.received(path).length ? receiver.received(path) : undefined),
      "slack",
    );
    const body = verify(secret, got as NonNullable<typeof got>) as { text: string; blocks: unknown[] };
    expect(body.text).toMatch(/Budget \*slack-budget\* reached 80% for u1: 800 of 1000 tokens/);
    expect(body.blocks).toHaveLength(1);
  });

  it("a replayed alert is scheduled once", async () => {
    const { d, endpoints } = await dispatcher();
    const path = `/${runId()}`;
    await endpoint(endpoints, receiver.url(path));
    const one = alert();
    expect(await d.deliverAlerts([one])).toBe(1);
    expect(await d.deliverAlerts([one])).toBe(0);
    await eventually(async () => (receiver.received(path).length === 1 ? true : undefined), "one delivery");
  });

  it("honours Retry-After", async () => {
    const { d, endpoints } = await dispatcher({ retrySchedule: [100] });
    const path = `/${runId()}`;
    receiver.answer(path, [{ status: 503, headers: { "retry-after": "2" } }, { status: 200 }]);
    await endpoint(endpoints, receiver.url(path));
    await d.deliverAlerts([alert()]);
    const got = await eventually(
      async () => (receiver.received(path).length >= 2 ? receiver.received(path) : undefined),
      "2 attempts",
    );
    expect((got[1] as { atMs: number }).atMs - (got[0] as { atMs: number }).atMs).toBeGreaterThanOrEqual(2_000);
  });

  it("410 Gone disables the endpoint at once; a whole failed schedule disables it too", async () => {
    const { d, endpoints } = await dispatcher({ retrySchedule: [50, 50] });
    const gone = `/${runId()}`;
    const failing = `/${runId()}`;
    receiver.answer(gone, [{ status: 410 }]);
    receiver.answer(failing, () => ({ status: 500 }));
    const { e: g } = await endpoint(endpoints, receiver.url(gone));
    const { e: f } = await endpoint(endpoints, receiver.url(failing));
    await d.deliverAlerts([alert()]);
    const disabled = await eventually(async () => {
      await endpoints.refresh();
      const [a, b] = [endpoints.get(g.id), endpoints.get(f.id)];
      return a && b && !a.enabled && !b.enabled ? [a, b] : undefined;
    }, "both disabled");
    expect(disabled[0]?.disabled_reason).toMatch(/410 Gone/);
    expect(disabled[1]?.disabled_reason).toMatch(/whole retry schedule \(3 attempts\)/);
    expect(receiver.received(gone)).toHaveLength(1);
    expect(receiver.received(failing)).toHaveLength(3);
    expect((await attemptsOf(f.id)).map((a) => a.status)).toEqual([500, 500, 500]);
  });

  const HANG_TIMEOUT_MS = 3_000;
  it("one hanging endpoint, with a backlog, does not delay another", async () => {
    const { d, endpoints } = await dispatcher({ timeoutMs: HANG_TIMEOUT_MS });
    const hang = `/${runId()}`;
    const fast = `/${runId()}`;
    receiver.answer(hang, () => ({ status: 0, hang: true }));
    const { e: h } = await endpoint(endpoints, receiver.url(hang));
    await endpoint(endpoints, receiver.url(fast));
    // 40 messages: more than the hanging endpoint's 16 slots, so its backlog waits while the other's goes.
    await d.deliverAlerts(Array.from({ length: 40 }, () => alert()));
    await eventually(async () => (receiver.received(fast).length === 40 ? true : undefined), "fast delivered");
    // All 40 landed while every attempt on the hanging endpoint was still open: none has ended yet.
    expect(await attemptsOf(h.id)).toEqual([]);
    // Its 16 slots are taken (the requests may still be on their way); the rest of its backlog waits.
    await eventually(async () => (receiver.received(hang).length >= 16 ? true : undefined), "16 hanging attempts");
    expect(receiver.received(hang)).toHaveLength(16);
    const [attempt] = await eventually(async () => {
      const a = await attemptsOf(h.id);
      return a.length > 0 ? a : undefined;
    }, "the hanging attempt recorded");
    expect(attempt?.error).toMatch(new RegExp(`timed out after ${HANG_TIMEOUT_MS} ms`));
    expect(attempt?.latency_ms).toBeGreaterThanOrEqual(HANG_TIMEOUT_MS - 100);
  });

  it("a new dispatcher (a restart) reads the schedule back and delivers with the same webhook-id", async () => {
    const first = await dispatcher({ retrySchedule: [1_000] });
    const path = `/${runId()}`;
    receiver.answer(path, [{ status: 500 }, { status: 200 }]);
    const { secret } = await endpoint(first.endpoints, receiver.url(path));
    await first.d.deliverAlerts([alert()]);
    await eventually(async () => (receiver.received(path).length === 1 ? true : undefined), "first attempt");
    await first.d.stop(); // the process is gone; only the schedule remains
    await dispatcher({ retrySchedule: [1_000] });
    const got = await eventually(
      async () => (receiver.received(path).length === 2 ? receiver.received(path) : undefined),
      "second attempt after the restart",
    );
    expect(got[1]?.headers["webhook-id"]).toBe(got[0]?.headers["webhook-id"]);
    expect(verify(secret, got[1] as (typeof got)[number])).toBeTruthy();
  });

  it("sends each org's alerts to its endpoints and the operator's only", async () => {
    const { d, endpoints } = await dispatcher();
    const [acme, other, operator] = [`/${runId()}`, `/${runId()}`, `/${runId()}`];
    await endpoint(endpoints, receiver.url(acme), "acme");
    await endpoint(endpoints, receiver.url(other), "other");
    await endpoint(endpoints, receiver.url(operator), null);
    await d.deliverAlerts([alert(`acme-${runId()}`)]);
    await eventually(
      async () => (receiver.received(acme).length && receiver.received(operator).length ? true : undefined),
      "delivered",
    );
    expect(receiver.received(other)).toHaveLength(0);
  });

  it("refuses private and loopback targets at delivery time, also by a hostname (localhost)", async () => {
    const { d, endpoints } = await dispatcher({ allowPrivate: false, retrySchedule: [] });
    const path = `/${runId()}`;
    const byName = await endpoint(endpoints, receiver.url(path).replace("127.0.0.1", "localhost"));
    const byAddress = await endpoint(endpoints, receiver.url(path));
    await d.deliverAlerts([alert()]);
    for (const { e } of [byName, byAddress]) {
      const [attempt] = await eventually(async () => {
        const a = await attemptsOf(e.id);
        return a.length > 0 ? a : undefined;
      }, "refused attempt");
      expect(attempt?.status).toBe(0);
      expect(attempt?.error).toMatch(/resolves to (127\.0\.0\.1|::1).*TOLLGATE_WEBHOOK_ALLOW_PRIVATE is off/);
    }
    expect(receiver.received(path)).toHaveLength(0);
  });

  it("signs with both secrets during a rotation's overlap, and with the new one only after it", async () => {
    let offset = 0;
    const clock = () => Date.now() + offset;
    const { d, endpoints } = await dispatcher({}, clock);
    const path = `/${runId()}`;
    const { e, secret: old } = await endpoint(endpoints, receiver.url(path));
    const next = rotated(e, cipher, 60, clock());
    await endpoints.put(next.endpoint);
    await d.deliverAlerts([alert()]);
    const [during] = await eventually(
      async () => (receiver.received(path).length === 1 ? receiver.received(path) : undefined),
      "during",
    );
    expect(verify(old, during as NonNullable<typeof during>)).toBeTruthy();
    expect(verify(next.secret, during as NonNullable<typeof during>)).toBeTruthy();
    offset = 61_000; // past the overlap (and within standardwebhooks' 5-minute timestamp tolerance)
    await d.deliverAlerts([alert()]);
    const after = await eventually(async () => receiver.received(path)[1], "after");
    expect(verify(next.secret, after)).toBeTruthy();
    expect(() => verify(old, after)).toThrow();
  });
});
