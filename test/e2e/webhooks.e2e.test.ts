import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../support/engines";
import { call } from "../support/http";
import { eventually } from "../support/processes";
import { type Mode, type Stack, startStack } from "../support/stack";
import { type Received, startReceiver, verify } from "../support/webhook-receiver";

/**
 * Webhooks end to end, in both modes: endpoints through the enforcement
 * API, budget alerts reached by reported usage and delivered (embedded: in
 * process; distributed: ingest → Kafka → aggregator → tollgate.alerts.v1 →
 * the webhooks consumer group → the ClickHouse schedule → HTTP), each
 * delivery verified with the standardwebhooks package. Loopback and plain
 * HTTP are allowed by the flags; the refusals are tested in
 * packages/webhooks (unit and dispatcher integration tests).
 */
const ENV = {
  TOLLGATE_WEBHOOK_ALLOW_HTTP: "true",
  TOLLGATE_WEBHOOK_ALLOW_PRIVATE: "true",
  TOLLGATE_WEBHOOK_RETRY_SCHEDULE: "300ms,600ms,1s",
  TOLLGATE_WEBHOOK_TIMEOUT_MS: "2000",
};

describe.each<Mode>(["embedded", "distributed"])("webhooks (%s)", (mode) => {
  let stack: Stack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const orgA = runId("whA_");
  const orgB = runId("whB_");
  const keys = { a: "", b: "" };

  beforeAll(async () => {
    receiver = await startReceiver();
    stack = await startStack(mode, ENV);
    for (const [who, org] of [
      ["a", orgA],
      ["b", orgB],
    ] as const) {
      const made = await call("POST", `${stack.enforcementUrl}/v1/keys`, {
        key: stack.adminKey,
        json: { role: "admin", name: `admin of ${org}`, org_id: org },
      });
      expect(made.status).toBe(201);
      keys[who] = made.body.key;
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  const api = (key: string, method: string, path: string, json?: unknown) =>
    call(method, `${stack.enforcementUrl}${path}`, { key, ...(json === undefined ? {} : { json }) });
  const create = async (key: string, path: string, extra: Record<string, unknown> = {}) => {
    const reply = await api(key, "POST", "/v1/webhooks", { url: receiver.url(path), ...extra });
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    return reply.body as { id: string; secret: string; org_id: string | null };
  };
  const arrivals = (path: string, n: number, what: string) =>
    eventually(async () => (receiver.received(path).length >= n ? receiver.received(path) : undefined), what, 30_000);

  it("endpoints: created with a whsec_ secret shown once, org-scoped, validated", async () => {
    const path = `/${runId()}`;
    const mine = await create(keys.a, path, { description: "finance 💸", events: ["budget.threshold_reached"] });
    expect(mine.secret).toMatch(/^whsec_/);
    expect(mine.org_id).toBe(orgA);
    const read = await api(keys.a, "GET", `/v1/webhooks/${mine.id}`);
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(mine.secret.slice(6));
    expect(read.body).toMatchObject({ url: receiver.url(path), description: "finance 💸", enabled: true });
    // B's admin sees nothing of A's: missing, not forbidden.
    for (const [method, suffix] of [
      ["GET", ""],
      ["PATCH", ""],
      ["DELETE", ""],
      ["POST", "/test"],
      ["POST", "/rotate-secret"],
      ["GET", "/deliveries"],
    ] as const) {
      const reply = await api(keys.b, method, `/v1/webhooks/${mine.id}${suffix}`, method === "PATCH" ? {} : undefined);
      expect(reply.status, `${method} ${suffix}`).toBe(404);
    }
    expect((await api(keys.b, "GET", "/v1/webhooks")).body.webhooks).toEqual([]);
    const theirs = await create(keys.b, `/${runId()}`);
    expect((await api(keys.a, "GET", "/v1/webhooks")).body.webhooks.map((w: { id: string }) => w.id)).toEqual([
      mine.id,
    ]);
    const all = (await api(stack.adminKey, "GET", "/v1/webhooks")).body.webhooks.map((w: { id: string }) => w.id);
    expect(all).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    // An org admin cannot make an endpoint of another org.
    expect((await api(keys.a, "POST", "/v1/webhooks", { url: receiver.url("/x"), org_id: orgB })).status).toBe(403);
    // Refused naming the field.
    const bad = await api(keys.a, "POST", "/v1/webhooks", { url: "ftp://example.com/h" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe("url");
    const lone = await api(keys.a, "POST", "/v1/webhooks", { url: receiver.url("/x"), description: "\ud800" });
    expect(lone.status).toBe(400);
    expect(lone.body.errors[0].path).toBe("description");
    const patched = await api(keys.a, "PATCH", `/v1/webhooks/${mine.id}`, { enabled: false, format: "slack" });
    expect(patched.body).toMatchObject({ enabled: false, format: "slack" });
    expect((await api(keys.a, "DELETE", `/v1/webhooks/${mine.id}`)).status).toBe(204);
    expect((await api(keys.a, "GET", `/v1/webhooks/${mine.id}`)).status).toBe(404);
  });

  it("thresholds 50, 80, 100 reached by reported usage: exactly one verified delivery each", async () => {
    const path = `/${runId()}`;
    const other = `/${runId()}`;
    const { id, secret } = await create(keys.a, path);
    await create(keys.b, other);
    const user = runId("wh_user_");
    const budget = `${orgA}-wh`;
    const put = await api(keys.a, "PUT", `/v1/budgets/${budget}`, {
      scope: { type: "user", id: user },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1_000,
      alert_thresholds_pct: [50, 80, 100],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    let n = 0;
    const report = async (tokens: number) => {
      const reply = await call("POST", `${stack.ingestUrl}/v1/events`, {
        key: keys.a,
        json: {
          event_id: `${user}-${n++}`,
          project_id: "p1",
          user_id: user,
          agent_id: "a1",
          model: "gpt-4o",
          usage: { input_tokens: tokens, output_tokens: 0 },
        },
      });
      expect(reply.status).toBe(202);
    };
    const used = async () => {
      const reply = await api(keys.a, "GET", `/v1/usage?user_id=${user}`);
      return Number(reply.body.budgets?.find((b: { id: string }) => b.id === budget)?.used ?? 0);
    };
    // Distributed: reports before the aggregator saw the budget count for nothing; 10 tokens until one counts.
    await eventually(
      async () => {
        await report(10);
        return (await used()) > 0 ? true : undefined;
      },
      "the budget counting",
      30_000,
    );
    const start = await used();
    expect(start).toBeLessThan(100);
    await report(500 - start);
    await arrivals(path, 1, "the 50 % alert");
    await report(300);
    await arrivals(path, 2, "the 80 % alert");
    await report(200);
    const got = await arrivals(path, 3, "the 100 % alert");
    const payloads = got.map((r) => verify(secret, r) as { type: string; data: Record<string, unknown> });
    expect(payloads.map((p) => p.type)).toEqual(Array(3).fill("budget.threshold_reached"));
    expect(payloads.map((p) => p.data.threshold_pct)).toEqual([50, 80, 100]);
    expect(payloads[2]?.data).toMatchObject({ budget_id: budget, member: user, limit: 1_000, metric: "tokens" });
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(3);
    expect(receiver.received(other)).toHaveLength(0);

    // History, newest first, then a replay: the same webhook-id and body, a new delivery.
    // The receiver answered before the dispatcher wrote the outcome: poll for it.
    const history = await eventually(async () => {
      const reply = await api(keys.a, "GET", `/v1/webhooks/${id}/deliveries?limit=2`);
      return reply.body.deliveries?.every((d: { state: string }) => d.state === "delivered") ? reply : undefined;
    }, "the outcomes recorded");
    expect(history.body.deliveries).toHaveLength(2);
    expect(history.body.deliveries[0].payload.data.threshold_pct).toBe(100);
    expect(history.body.deliveries[0].attempt_log[0]).toMatchObject({ attempt: 1, status: 200, error: null });
    const rest = await api(keys.a, "GET", `/v1/webhooks/${id}/deliveries?limit=2&cursor=${history.body.next_cursor}`);
    expect(
      rest.body.deliveries.map((d: { payload: { data: { threshold_pct: number } } }) => d.payload.data.threshold_pct),
    ).toEqual([50]);
    const first = rest.body.deliveries[0];
    expect(receiver.received(path), "no delivery twice").toHaveLength(3);
    const replay = await api(keys.a, "POST", `/v1/webhooks/${id}/deliveries/${first.id}/replay`);
    expect(replay.status).toBe(202);
    const again = await arrivals(path, 4, "the replay");
    expect(again[3]?.headers["webhook-id"]).toBe(first.message_id);
    expect(again[3]?.body).toBe(got[0]?.body);
    expect(verify(secret, again[3] as Received)).toBeTruthy();
  });

  it("a burn-rate forecast: projected_exhaustion_at in the standing, budget.exhaustion_forecast delivered", async () => {
    const path = `/${runId()}`;
    const { secret } = await create(keys.a, path, { events: ["budget.exhaustion_forecast"] });
    const endpointMadeAt = Date.now();
    const user = runId("wh_fc_user_");
    const budget = `${orgA}-fc`;
    // Lifetime: it never resets, so any finite projection counts (a day window could reset mid-test).
    const put = await api(keys.a, "PUT", `/v1/budgets/${budget}`, {
      scope: { type: "user", id: user },
      metric: "tokens",
      window: { type: "lifetime" },
      limit: 1_000_000,
      alert_thresholds_pct: [100],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    let n = 0;
    const report = async (timestamp?: number) => {
      const reply = await call("POST", `${stack.ingestUrl}/v1/events`, {
        key: keys.a,
        json: {
          event_id: `${user}-${n++}`,
          ...(timestamp === undefined ? {} : { timestamp }),
          project_id: "p1",
          user_id: user,
          agent_id: "a1",
          model: "gpt-4o",
          usage: { input_tokens: 1_000, output_tokens: 0 },
        },
      });
      expect(reply.status).toBe(202);
    };
    const standing = async () =>
      (await api(keys.a, "GET", `/v1/usage?user_id=${user}`)).body.budgets?.find(
        (b: { id: string }) => b.id === budget,
      );
    // Distributed: reports before the aggregator saw the budget count for nothing.
    const young = await eventually(
      async () => {
        await report();
        const s = await standing();
        return s && s.used > 0 ? s : undefined;
      },
      "the budget counting",
      30_000,
    );
    expect(young.projected_exhaustion_at).toBeNull(); // seconds of history: no rate yet
    // Endpoints, like budgets, are seen by every instance within a second (the aggregator's
    // copy fans alerts out): the alert below must find this one.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, endpointMadeAt + 1_000 - Date.now())));
    // Usage reported 30 minutes late: half an hour of history at once, so the rate is known.
    const thirtyMinutesAgo = Date.now() - 30 * 60_000;
    await report(thirtyMinutesAgo);
    const { counted, before, after } = await eventually(async () => {
      const before = Date.now();
      const s = await standing();
      const after = Date.now();
      // Counted once it is: then the earliest usage is half an hour old, and there is a rate.
      return s?.projected_exhaustion_at ? { counted: s, before, after } : undefined;
    }, "the late usage counted");
    // All of it within the hour, the earliest 30 minutes ago: the rate is used ÷ the time since
    // then, so the rest lasts remaining × (now − then) ÷ used; "now" is somewhere within the request.
    const at = (now: number) => now + (counted.remaining * (now - thirtyMinutesAgo)) / counted.used;
    const projected = Date.parse(counted.projected_exhaustion_at);
    expect(projected).toBeGreaterThanOrEqual(at(before) - 1_000);
    expect(projected).toBeLessThanOrEqual(at(after) + 1_000);
    const checked = await call("POST", `${stack.enforcementUrl}/v1/check`, {
      key: keys.a,
      json: { user_id: user, project_id: "p1", agent_id: "a1", model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 },
    });
    expect(checked.body.budgets.find((b: { id: string }) => b.id === budget)?.projected_exhaustion_at).toMatch(
      /^\d{4}-\d\d-\d\dT/,
    );

    const [got] = await arrivals(path, 1, "the forecast alert");
    const payload = verify(secret, got as Received) as { type: string; data: Record<string, unknown> };
    expect(payload.type).toBe("budget.exhaustion_forecast");
    expect(payload.data).toMatchObject({ budget_id: budget, member: user, limit: 1_000_000, period: "all" });
    const data = payload.data as {
      remaining: number;
      rate_per_hour: number;
      projected_exhaustion_at: string;
      at: string;
    };
    // The projection is the remaining budget at the rate, from when it was made.
    const expected = Date.parse(data.at) + (data.remaining / data.rate_per_hour) * 3_600_000;
    expect(
      Math.abs(Date.parse(data.projected_exhaustion_at) - expected) / (expected - Date.parse(data.at)),
    ).toBeLessThan(0.001);
  });

  it("500, 500, 200: the third attempt delivers, with one webhook-id, every attempt recorded", async () => {
    const path = `/${runId()}`;
    receiver.answer(path, [{ status: 500 }, { status: 500 }, { status: 200 }]);
    const { id, secret } = await create(keys.a, path);
    expect((await api(keys.a, "POST", `/v1/webhooks/${id}/test`)).status).toBe(202);
    const got = await arrivals(path, 3, "three attempts");
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(1);
    for (const r of got) expect(verify(secret, r)).toMatchObject({ type: "webhook.test" });
    const delivery = await eventually(async () => {
      const d = (await api(keys.a, "GET", `/v1/webhooks/${id}/deliveries`)).body.deliveries[0];
      return d?.state === "delivered" ? d : undefined;
    }, "delivered");
    expect(delivery.attempt_log.map((a: { status: number }) => a.status)).toEqual([200, 500, 500]);
  });

  it("rotation: both secrets verify during the overlap, only the new one after it", async () => {
    const path = `/${runId()}`;
    const { id, secret: first } = await create(keys.a, path);
    const rotated = await api(keys.a, "POST", `/v1/webhooks/${id}/rotate-secret`, { overlap_seconds: 3600 });
    expect(rotated.status).toBe(200);
    const second = rotated.body.secret as string;
    expect(second).toMatch(/^whsec_/);
    await api(keys.a, "POST", `/v1/webhooks/${id}/test`);
    const [during] = await arrivals(path, 1, "during the overlap");
    expect(verify(first, during as Received)).toBeTruthy();
    expect(verify(second, during as Received)).toBeTruthy();
    // A rotation with no overlap ends the others at once.
    const third = (await api(keys.a, "POST", `/v1/webhooks/${id}/rotate-secret`, { overlap_seconds: 0 })).body.secret;
    await api(keys.a, "POST", `/v1/webhooks/${id}/test`);
    const after = (await arrivals(path, 2, "after the overlap"))[1] as Received;
    expect(verify(third, after)).toBeTruthy();
    expect(() => verify(first, after)).toThrow();
    expect(() => verify(second, after)).toThrow();
  });

  it("a dispatcher killed mid-retry still delivers after its restart, with the same webhook-id", async () => {
    const path = `/${runId()}`;
    let up = false;
    receiver.answer(path, () => ({ status: up ? 200 : 500 }));
    const { id, secret } = await create(keys.a, path);
    await api(keys.a, "POST", `/v1/webhooks/${id}/test`);
    await arrivals(path, 1, "the first, failed attempt");
    await stack.restart(mode === "embedded" ? "embedded" : "aggregator", "SIGKILL");
    up = true;
    const got = await eventually(
      async () => receiver.received(path).find((r) => r.status === 200),
      "a delivery after the restart",
      30_000,
    );
    expect(got.headers["webhook-id"]).toBe(receiver.received(path)[0]?.headers["webhook-id"]);
    expect(verify(secret, got)).toBeTruthy();
  });
});
