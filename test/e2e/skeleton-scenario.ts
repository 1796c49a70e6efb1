import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, callPlainAndGzipped } from "../support/http";
import { eventually } from "../support/processes";

export interface SkeletonTarget {
  ingestUrl: string;
  enforcementUrl: string;
  reportsUrl: string;
  adminKey: string;
  /** The usage_events rows of one event in this mode's analytics store (deduplicated view). */
  rowsFor(eventId: string): Promise<Array<Record<string, unknown>>>;
  /** Dead letters whose payload contains `marker`. */
  deadLettersWith(marker: string): Promise<Array<{ reason: string; payload: string }>>;
  /**
   * Budget alerts published for a budget so far (tollgate.alerts.v1, or
   * embedded mode's log, where it waits until `expected` have been read).
   */
  alertsFor(budgetId: string, expected: number): Promise<Array<Record<string, unknown>>>;
  /** Waits for a condition that the mode makes true asynchronously (distributed) or already (embedded). */
  settle<T>(probe: () => Promise<T | undefined>, what: string): Promise<T>;
}

/**
 * The walking skeleton, end to end, as an agent and an admin use it. The
 * same scenario runs against the distributed services on the real engines
 * and against embedded mode.
 */
export function skeletonScenario(target: () => SkeletonTarget): void {
  const tenant = runId("org_");
  let agentKey = "";

  it("refuses requests without a valid key (401), and wrong roles (403)", async () => {
    const t = target();
    const none = await call("GET", `${t.enforcementUrl}/v1/keys`);
    expect(none.status).toBe(401);
    expect(none.body.message).toMatch(/Authorization: Bearer/);
    expect(
      (await call("GET", `${t.enforcementUrl}/v1/keys`, { key: `tgk_0000000000000000_${"x".repeat(43)}` })).status,
    ).toBe(401);
    expect((await call("POST", `${t.ingestUrl}/v1/events`, { json: {} })).status).toBe(401);

    const created = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: t.adminKey,
      json: { role: "agent", name: "e2e agent", default_tags: { org_id: tenant } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: "agent", name: "e2e agent", default_tags: { org_id: tenant } });
    agentKey = created.body.key;
    expect(agentKey).toMatch(/^tgk_/);

    const forbidden = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: agentKey,
      json: { role: "admin", name: "escalate" },
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.message).toMatch(/needs the role admin; the key has the role agent/);

    const listed = await call("GET", `${t.enforcementUrl}/v1/keys`, { key: t.adminKey });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain(agentKey.slice(-20)); // secrets are never listed
    expect(listed.body.keys.map((k: { id: string }) => k.id)).toContain(created.body.id);
  });

  it("counts a reported event in Redis-or-memory counters and stores it in ClickHouse-or-chDB", async () => {
    const t = target();
    const user = runId("user_");
    const event = {
      event_id: runId("evt_"),
      timestamp: new Date().toISOString(),
      trace_id: "tr_9912",
      project_id: "q1_analysis_fleet",
      user_id: user,
      agent_id: "market-researcher-01",
      model: "gpt-4o",
      usage: { prompt_tokens: 1040, completion_tokens: 450, total_tokens: 1490, cached_tokens: 0, reasoning_tokens: 0 },
    };
    const accepted = await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, json: event });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({ accepted: 1, rejected: [] });

    // gpt-4o: 1040 × 2.5 µUSD + 450 × 10 µUSD = 2600 + 4500 = 7100 µUSD.
    const expectedDay = { tokens: 1490, input_tokens: 1040, output_tokens: 450, cost_micro_usd: 7100, requests: 1 };
    const usage = await t.settle(async () => {
      const reply = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}&project_id=q1_analysis_fleet`, {
        key: agentKey,
      });
      return reply.body?.totals?.user?.day?.requests === 1 ? reply : undefined;
    }, "the event in the counters");
    expect(usage.status).toBe(200);
    expect(usage.body.totals.user.day).toEqual(expectedDay);
    expect(usage.body.totals.user.month).toEqual(expectedDay);
    expect(usage.body.budgets).toEqual([]);

    const rows = await t.settle(async () => {
      const found = await t.rowsFor(event.event_id);
      return found.length > 0 ? found : undefined;
    }, "the event row");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      event_id: event.event_id,
      org_id: tenant,
      project_id: "q1_analysis_fleet",
      user_id: user,
      agent_id: "market-researcher-01",
      model: "gpt-4o",
      input_tokens: 1040,
      output_tokens: 450,
      total_tokens: 1490,
      cost_micro_usd: 7100,
      cost_source: "priced",
      trace_id: "tr_9912",
    });

    // A duplicate (same event_id) is acknowledged but counts once; a second,
    // distinct event of the same user follows it in order, so once it shows,
    // the duplicate has been processed too.
    expect((await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, json: event })).status).toBe(202);
    const second = { ...event, event_id: runId("evt_"), usage: { input_tokens: 10, output_tokens: 5 } };
    expect((await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, json: second })).status).toBe(202);
    const after = await t.settle(async () => {
      const reply = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}`, { key: agentKey });
      return reply.body?.totals?.user?.day?.input_tokens >= 1050 ? reply : undefined;
    }, "the second event in the counters");
    expect(after.body.totals.user.day).toMatchObject({ tokens: 1505, input_tokens: 1050, requests: 2 });
    expect(await t.rowsFor(event.event_id)).toHaveLength(1);
  });

  it("answers bad input with 400 and field errors, keeps it as a dead letter, and lets valid items of a batch through", async () => {
    const t = target();
    const marker = runId("bad_");
    const good = {
      event_id: runId("evt_"),
      project_id: "p",
      user_id: runId("user_"),
      agent_id: "a",
      model: "gpt-4o",
      usage: { input_tokens: 1, output_tokens: 1 },
    };
    const bad = { project_id: marker, user_id: "", agent_id: "a", model: "gpt-4o", usage: { prompt_tokens: -5 } };

    const onlyBad = await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, json: bad });
    expect(onlyBad.status).toBe(400);
    expect(onlyBad.body.accepted).toBe(0);
    const paths = onlyBad.body.rejected[0].errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(["usage.prompt_tokens", "user_id"]);

    const mixed = await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, json: { events: [good, bad] } });
    expect(mixed.status).toBe(202);
    expect(mixed.body.accepted).toBe(1);
    expect(mixed.body.rejected.map((r: { index: number }) => r.index)).toEqual([1]);

    const letters = await t.settle(async () => {
      const found = await t.deadLettersWith(marker);
      return found.length >= 2 ? found : undefined;
    }, "two dead letters");
    expect(letters[0]?.reason).toMatch(/user_id must not be empty/);
    expect(JSON.parse(letters[0]?.payload ?? "{}")).toMatchObject({ project_id: marker });

    for (const raw of ["{not json", "[1,2]", "null", '"x"']) {
      const reply = await call("POST", `${t.ingestUrl}/v1/events`, {
        key: agentKey,
        raw,
        contentType: "application/json",
      });
      expect(reply.status, raw).toBe(400);
    }
    expect(
      (await call("POST", `${t.ingestUrl}/v1/events`, { key: agentKey, raw: "x=1", contentType: "text/plain" })).status,
    ).toBe(415);
    const gz = await call("POST", `${t.ingestUrl}/v1/events`, {
      key: agentKey,
      json: { ...good, event_id: runId("evt_") },
      gzip: true,
    });
    expect(gz.status).toBe(202);
  });

  it("answers reports alike whichever path serves them (direct for plain JSON, Express for the rest)", async () => {
    const url = `${target().ingestUrl}/v1/events`;
    const event = (user: string) => ({
      event_id: runId("evt_"),
      project_id: "p",
      user_id: user,
      agent_id: "a",
      model: "gpt-4o",
      usage: { input_tokens: 3, output_tokens: 2 },
    });
    const user = runId("user_paths_");
    // Plain JSON is answered directly; gzip, and a +json type, go through Express.
    const replies = [
      await call("POST", url, { key: agentKey, json: event(user) }),
      await call("POST", `${url}?sdk=1`, { key: agentKey, json: { events: [event(user), event(user)] } }),
      await call("POST", url, { key: agentKey, json: event(user), gzip: true }),
      await call("POST", url, {
        key: agentKey,
        raw: JSON.stringify(event(user)),
        contentType: "application/vnd.tollgate+json",
      }),
    ];
    expect(replies.map((r) => [r.status, r.body.accepted])).toEqual([
      [202, 1],
      [202, 2],
      [202, 1],
      [202, 1],
    ]);
    const counted = await target().settle(async () => {
      const reply = await call("GET", `${target().enforcementUrl}/v1/usage?user_id=${user}`, { key: agentKey });
      return reply.body?.totals?.user?.day?.requests === 5 ? reply : undefined;
    }, "the five events of both paths in the counters");
    expect(counted.body.totals.user.day).toMatchObject({ tokens: 25, requests: 5 });

    // Each refusal, plain and gzipped: the same status and error on both paths.
    const both = (options: Parameters<typeof call>[2]) => callPlainAndGzipped("POST", url, options);
    for (const reply of await both({ json: event(user) })) {
      expect(reply.status).toBe(401);
      expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer realm="tollgate"/);
    }
    for (const reply of await both({ key: agentKey, raw: "{not json", contentType: "application/json" })) {
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe("invalid_json");
    }
    for (const reply of await both({ key: agentKey, json: { events: [] } })) {
      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: "invalid_request", message: "events must not be empty" });
    }
    for (const reply of await both({ key: agentKey, json: { events: Array.from({ length: 1_001 }, () => ({})) } })) {
      expect(reply.status).toBe(413);
      expect(reply.body.error).toBe("batch_too_large");
    }
    const huge = JSON.stringify({ events: [{ ...event(user), feature: "x".repeat(1_100_000) }] });
    for (const reply of await both({ key: agentKey, raw: huge, contentType: "application/json" })) {
      expect(reply.status).toBe(413);
      expect(reply.body.error).toBe("payload_too_large");
    }
    // Without a Content-Length (chunked), the direct path finds the limit while reading.
    const chunked = await call("POST", url, {
      key: agentKey,
      raw: huge,
      contentType: "application/json",
      chunked: true,
    });
    expect(chunked.status).toBe(413);
    expect(chunked.body.error).toBe("payload_too_large");
  });

  it("serves open health routes, and request durations by route at /metrics", async () => {
    const t = target();
    for (const base of [t.ingestUrl, t.enforcementUrl]) {
      expect((await call("GET", `${base}/livez`)).status).toBe(200);
      expect((await call("GET", `${base}/readyz`)).status).toBe(200);
      const route = base === t.ingestUrl ? "/v1/events" : "/v1/check";
      expect((await call("POST", `${base}${route}`, { json: {} })).status).toBe(401);
      // Recorded when the server's response finishes, which the client may see a moment before.
      const measured = new RegExp(`http_server_request_duration_count\\{[^}]*http_route="${route}"`);
      await eventually(async () => {
        const metrics = await fetch(`${base}/metrics`);
        expect(metrics.status).toBe(200);
        return measured.test(await metrics.text()) ? true : undefined;
      }, `${route} in ${base}/metrics`);
    }
  });
}
