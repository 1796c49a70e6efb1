import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, callPlainAndGzipped } from "../support/http";
import type { SkeletonTarget } from "./skeleton-scenario";

/**
 * Budgets, checks and reservations over HTTP, as admins and agents use
 * them; the same scenario in both modes (Redis ledger / memory ledger).
 */
export function budgetScenario(target: () => SkeletonTarget): void {
  const org = runId("org_budget_");
  const project = runId("proj_");
  let agentKey = "";
  let viewerKey = "";

  const put = (id: string, body: unknown, key = target().adminKey) =>
    call("PUT", `${target().enforcementUrl}/v1/budgets/${id}`, { key, json: body });
  const check = (body: Record<string, unknown>) =>
    call("POST", `${target().enforcementUrl}/v1/check`, { key: agentKey, json: { org_id: org, ...body } });

  it("lets admins write budgets, viewers read them, and refuses invalid ones naming the field", async () => {
    const t = target();
    for (const [role, assign] of [
      ["agent", (k: string) => (agentKey = k)],
      ["viewer", (k: string) => (viewerKey = k)],
    ] as const) {
      const created = await call("POST", `${t.enforcementUrl}/v1/keys`, {
        key: t.adminKey,
        json: { role, name: `budget ${role}`, default_tags: { org_id: org } },
      });
      expect(created.status).toBe(201);
      assign(created.body.key);
    }

    const invalid = await put(`${org}-bad`, {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "calendar", unit: "fortnight" },
      limit: -1,
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["limit", "window.unit"]);
    expect((await put(`${org}-x`, {}, agentKey)).status).toBe(403);

    const budgets = [
      [
        `${org}-org`,
        {
          scope: { type: "org", id: org },
          metric: "tokens",
          window: { type: "calendar", unit: "month" },
          limit: 1_000_000,
        },
      ],
      [
        `${org}-project`,
        {
          scope: { type: "project", id: project },
          metric: "tokens",
          window: { type: "calendar", unit: "day", timezone: "Europe/Berlin" },
          limit: 100_000,
          soft_limit_pct: 80,
        },
      ],
      [
        `${org}-user`,
        { scope: { type: "user", id: "*" }, metric: "tokens", window: { type: "calendar", unit: "day" }, limit: 1_000 },
      ],
      [
        `${org}-soft`,
        {
          scope: { type: "user", id: "soft-user" },
          metric: "tokens",
          window: { type: "lifetime" },
          limit: 1_000,
          soft_limit_pct: 50,
        },
      ],
      [
        `${org}-mini`,
        {
          scope: { type: "agent", id: "summariser" },
          metric: "cost_usd",
          window: { type: "rolling", seconds: 3600 },
          limit_usd: "0.005",
          action: "degrade",
          degrade: { model_map: { "gpt-4o": "gpt-4o-mini" }, max_output_tokens: 256 },
        },
      ],
    ] as const;
    // The org's budgets: its viewer reads them, and they apply to its members only.
    for (const [id, body] of budgets) {
      const reply = await put(id, { ...body, org_id: org });
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    }
    const listed = await call("GET", `${t.enforcementUrl}/v1/budgets`, { key: viewerKey });
    expect(listed.status).toBe(200);
    const mine = listed.body.budgets.filter((b: { id: string }) => b.id.startsWith(org));
    expect(mine.map((b: { id: string }) => b.id).sort()).toEqual(budgets.map(([id]) => id).sort());
    expect(mine.find((b: { id: string }) => b.id === `${org}-mini`).limit).toBe(5_000); // micro-USD
  });

  it("holds at most what fits when 1,000 checks reserve at once, across org, project and user budgets", async () => {
    const user = runId("user_");
    const ask = {
      project_id: project,
      user_id: user,
      agent_id: "researcher",
      model: "gpt-4o",
      input_tokens: 60,
      max_output_tokens: 40,
      reserve: true,
    };
    const replies = await Promise.all(Array.from({ length: 1_000 }, () => check(ask)));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const held = replies.filter((r) => r.body.reservation_id);
    expect(held).toHaveLength(10); // the user's 1,000 tokens a day: 10 × 100
    const denied = replies.find((r) => r.body.decision === "deny");
    expect(denied?.body.reason).toMatch(new RegExp(`budget ${org}-user \\(user ${user}\\)`));
    expect(denied?.body.retry_after_s).toBeGreaterThan(0);
    expect(denied?.body.budgets.map((b: { id: string }) => b.id)).toEqual([
      `${org}-org`,
      `${org}-project`,
      `${org}-user`,
    ]);

    // Settle one with real usage through ingest, release another, and read the standing.
    const [first, second] = held;
    const event = {
      event_id: runId("evt_"),
      org_id: org,
      project_id: project,
      user_id: user,
      agent_id: "researcher",
      model: "gpt-4o",
      usage: { input_tokens: 20, output_tokens: 10 },
      reservation_id: first?.body.reservation_id,
    };
    expect((await call("POST", `${target().ingestUrl}/v1/events`, { key: agentKey, json: event })).status).toBe(202);
    const released = await call("DELETE", `${target().enforcementUrl}/v1/reservations/${second?.body.reservation_id}`, {
      key: agentKey,
    });
    expect(released.status).toBe(204);
    expect(
      (
        await call("DELETE", `${target().enforcementUrl}/v1/reservations/${second?.body.reservation_id}`, {
          key: agentKey,
        })
      ).status,
    ).toBe(404);

    const standing = await target().settle(async () => {
      const reply = await call("GET", `${target().enforcementUrl}/v1/usage?user_id=${user}&project_id=${project}`, {
        key: agentKey,
      });
      const userLine = reply.body?.budgets?.find((b: { id: string }) => b.id === `${org}-user`);
      return userLine?.used === 30 ? reply.body : undefined;
    }, "the settled usage in the budget standing");
    const line = standing.budgets.find((b: { id: string }) => b.id === `${org}-user`);
    expect(line).toMatchObject({ member: user, limit: 1_000, used: 30, reserved: 800, remaining: 170 });
  });

  it("degrades to the mapped model and warns past the soft limit, naming the deciding budget", async () => {
    const user = runId("user_");
    // 0.005 USD an hour for the summariser: 400 in + 600 out on gpt-4o is 0.007 USD → degrade.
    const degraded = await check({
      project_id: project,
      user_id: user,
      agent_id: "summariser",
      model: "gpt-4o",
      input_tokens: 400,
      max_output_tokens: 600,
    });
    expect(degraded.body).toMatchObject({ decision: "degrade", model: "gpt-4o-mini", max_output_tokens: 256 });
    expect(degraded.body.reason).toMatch(new RegExp(`budget ${org}-mini \\(agent summariser\\)`));

    const warned = await check({
      project_id: project,
      user_id: "soft-user",
      agent_id: "a",
      model: "gpt-4o",
      input_tokens: 600,
      max_output_tokens: 0,
    });
    expect(warned.body.decision).toBe("warn");
    expect(warned.body.reason).toMatch(new RegExp(`budget ${org}-soft .*soft limit of 50%`));
    const fine = await check({
      project_id: project,
      user_id: "soft-user",
      agent_id: "a",
      model: "gpt-4o",
      input_tokens: 100,
      max_output_tokens: 0,
    });
    expect(fine.body).toMatchObject({ decision: "allow", reason: "within every matching budget" });
    const bad = await check({ project_id: project, user_id: user, input_tokens: -1, reserve: "yes" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["input_tokens", "reserve"]);
    const foreign = await call("POST", `${target().enforcementUrl}/v1/check`, {
      key: agentKey,
      json: { org_id: "someone-else", user_id: user },
    });
    expect(foreign.status).toBe(403);
  });

  it("answers checks alike whichever path serves them (direct for plain JSON, Express for the rest)", async () => {
    const url = `${target().enforcementUrl}/v1/check`;
    const ask = { org_id: org, project_id: project, user_id: "soft-user", agent_id: "a", model: "gpt-4o" };
    // Plain JSON (with or without a query string, with a charset) is answered directly; gzip goes through Express.
    const replies = await Promise.all([
      call("POST", url, { key: agentKey, json: ask }),
      call("POST", `${url}?from=sdk`, { key: agentKey, json: ask }),
      call("POST", url, { key: agentKey, raw: JSON.stringify(ask), contentType: "application/json; charset=UTF-8" }),
      call("POST", url, { key: agentKey, json: ask, gzip: true }),
    ]);
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(reply.body).toMatchObject({ decision: "allow", reason: "within every matching budget" });
      expect(reply.body.budgets.map((b: { id: string }) => b.id).sort()).toEqual(
        replies[0]?.body.budgets.map((b: { id: string }) => b.id).sort(),
      );
    }

    // Each refusal, plain and gzipped: the same status and error on both paths.
    const both = (options: Parameters<typeof call>[2]) => callPlainAndGzipped("POST", url, options);
    for (const reply of await both({ json: ask })) {
      expect(reply.status).toBe(401);
      expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer realm="tollgate"/);
      expect(reply.body.message).toMatch(/Authorization: Bearer/);
    }
    for (const reply of await both({ key: viewerKey, json: ask })) {
      expect(reply.status).toBe(403);
      expect(reply.body.message).toBe("this route needs the role agent; the key has the role viewer");
    }
    for (const reply of await both({ key: agentKey, raw: "{not json", contentType: "application/json" })) {
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ error: "invalid_json", message: expect.stringMatching(/not valid JSON/) });
    }
    for (const reply of await both({ key: agentKey, json: { ...ask, input_tokens: 1.5 } })) {
      expect(reply.status).toBe(400);
      expect(reply.body.errors.map((e: { path: string }) => e.path)).toEqual(["input_tokens"]);
    }
    // Past the check's 256 KiB body limit (raised from 16 KiB for `messages`).
    const big = JSON.stringify({ ...ask, feature: "x".repeat(300_000) });
    for (const reply of await both({ key: agentKey, raw: big, contentType: "application/json" })) {
      expect(reply.status).toBe(413);
      expect(reply.body).toMatchObject({ error: "payload_too_large" });
    }
    // Without a Content-Length (chunked), the direct path finds the limit while reading.
    const chunked = await call("POST", url, {
      key: agentKey,
      raw: big,
      contentType: "application/json",
      chunked: true,
    });
    expect(chunked.status).toBe(413);
    expect(chunked.body.error).toBe("payload_too_large");
    // Not JSON at all: Express serves it, and the schema names the problem.
    const text = await call("POST", url, { key: agentKey, raw: "user_id=u", contentType: "text/plain" });
    expect(text.status).toBe(400);
    expect(text.body.error).toBe("invalid_request");
  });

  it("counts input tokens from messages or a prompt, holds the counted amount, and says what it counted", async () => {
    const user = runId("user_");
    const ask = { project_id: project, user_id: user, agent_id: "estimator", model: "gpt-4o" };
    // The OpenAI cookbook's example: 124 prompt tokens on gpt-4o, as the API counts them.
    const messages = [
      {
        role: "system",
        content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
      },
      { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
      { role: "system", name: "example_assistant", content: "Things working well together will increase revenue." },
      {
        role: "system",
        name: "example_user",
        content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
      },
      {
        role: "system",
        name: "example_assistant",
        content: "Let's talk later when we're less busy about how to do better.",
      },
      {
        role: "user",
        content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
      },
    ];
    const held = await check({ ...ask, messages, max_output_tokens: 50, reserve: true });
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({ decision: "allow", input_tokens: 124, input_tokens_estimated: false });
    expect(held.body.reservation_id).toEqual(expect.any(String));
    const usage = await call("GET", `${target().enforcementUrl}/v1/usage?user_id=${user}&project_id=${project}`, {
      key: agentKey,
    });
    const line = usage.body.budgets.find((b: { id: string }) => b.id === `${org}-user`);
    expect(line).toMatchObject({ member: user, used: 0, reserved: 124 + 50 });

    // Both paths count alike: plain JSON (direct) and gzip (Express).
    const url = `${target().enforcementUrl}/v1/check`;
    for (const reply of await callPlainAndGzipped("POST", url, {
      key: agentKey,
      json: { org_id: org, ...ask, prompt: "hello", max_output_tokens: 1 },
    })) {
      expect(reply.body).toMatchObject({ decision: "allow", input_tokens: 1, input_tokens_estimated: false });
    }

    // Without max_output_tokens the model's output limit from the price table is the
    // estimate: gpt-4o's 16,384 does not fit the user's 1,000 a day.
    const uncapped = await check({ ...ask, prompt: "hello" });
    expect(uncapped.body).toMatchObject({ decision: "deny", max_output_tokens: 16_384, input_tokens: 1 });

    // Anthropic's shape (system + content blocks) on a Claude model: a stated approximation.
    const claude = await check({
      ...ask,
      model: "claude-sonnet-4-5",
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
      max_output_tokens: 10,
    });
    expect(claude.body).toMatchObject({ decision: "allow", input_tokens_estimated: true });
    expect(claude.body.input_tokens).toBeGreaterThan(8);

    // One source of input tokens, text validated like any other: 400s naming the field.
    const refused = async (body: Record<string, unknown>) => {
      const reply = await check({ ...ask, ...body });
      expect(reply.status).toBe(400);
      return reply.body.errors.map((e: { path: string }) => e.path);
    };
    expect(await refused({ input_tokens: 10, messages })).toEqual(["messages"]);
    expect(await refused({ messages, prompt: "hi" })).toEqual(["prompt"]);
    expect(await refused({ system: "Be brief." })).toEqual(["system"]);
    expect(await refused({ messages: [] })).toEqual(["messages"]);
    expect(await refused({ messages: [{ role: "user", content: "bad \ud800 text" }] })).toEqual([
      "messages[0].content",
    ]);
    expect(await refused({ messages: [{ role: "user", content: [{ type: "image", url: "x" }] }] })).toEqual([
      "messages[0].content",
    ]);
  });

  it("applies tier budgets to assigned users and admin grants until they expire", async () => {
    const t = target();
    const freeUser = runId("free_");
    const assigned = await call("PUT", `${t.enforcementUrl}/v1/users/${freeUser}/tier`, {
      key: t.adminKey,
      json: { tier: "free", org_id: org },
    });
    expect(assigned.status).toBe(200);
    expect(
      (await call("PUT", `${t.enforcementUrl}/v1/users/${freeUser}/tier`, { key: agentKey, json: { tier: "vip" } }))
        .status,
    ).toBe(403);
    expect(
      (
        await put(`${org}-free`, {
          scope: { type: "user", id: "*" },
          tier: "free",
          metric: "requests",
          window: { type: "calendar", unit: "day" },
          limit: 0,
        })
      ).status,
    ).toBe(201);
    const ask = { project_id: project, agent_id: "a", model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 };
    const free = await check({ ...ask, user_id: freeUser });
    expect(free.body.decision).toBe("deny");
    expect(free.body.reason).toMatch(new RegExp(`budget ${org}-free`));
    expect((await check({ ...ask, user_id: runId("paying_") })).body.decision).toBe("allow");

    const big = { ...ask, user_id: runId("granted_"), input_tokens: 1_500 };
    expect((await check(big)).body.decision).toBe("deny"); // over the user's 1,000 a day
    const grant = await call("POST", `${t.enforcementUrl}/v1/budgets/${org}-user/grants`, {
      key: t.adminKey,
      json: {
        member: big.user_id,
        amount: 1_000,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        reason: "demo day",
      },
    });
    expect(grant.status).toBe(201);
    const granted = await check(big);
    expect(granted.body.decision).toBe("allow");
    expect(granted.body.budgets.find((b: { id: string }) => b.id === `${org}-user`)).toMatchObject({ limit: 2_000 });
    const past = await call("POST", `${t.enforcementUrl}/v1/budgets/${org}-user/grants`, {
      key: t.adminKey,
      json: { amount: 5, expires_at: "2020-01-01T00:00:00Z" },
    });
    expect(past.status).toBe(400);
    expect(past.body.errors[0]).toMatchObject({ path: "expires_at" });
    expect(
      (await call("DELETE", `${t.enforcementUrl}/v1/budgets/${org}-user/grants/${grant.body.id}`, { key: t.adminKey }))
        .status,
    ).toBe(204);
    expect((await check(big)).body.decision).toBe("deny");
  });

  it("publishes an alert when a budget reaches a threshold, once in its period", async () => {
    const t = target();
    const user = runId("alert_user_");
    const id = `${org}-alerts`;
    const created = await put(id, {
      scope: { type: "user", id: user },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1_000,
      alert_thresholds_pct: [50, 100],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // 600 tokens a report: the first that the budget counts reaches 50 %, the
    // second 100 % (distributed: reports sent before the aggregator saw the budget count for nothing).
    let sent = 0;
    const report = async () => {
      const reply = await call("POST", `${t.ingestUrl}/v1/events`, {
        key: agentKey,
        json: {
          event_id: `${user}-${sent++}`,
          project_id: project,
          user_id: user,
          agent_id: "alerting-agent",
          model: "gpt-4o",
          usage: { input_tokens: 500, output_tokens: 100 },
        },
      });
      expect(reply.status).toBe(202);
    };
    await report();
    const both = await t.settle(async () => {
      await report();
      const found = await t.alertsFor(id, 2);
      return found.some((a) => a.threshold_pct === 100) ? found : undefined;
    }, "alerts at 50 % and 100 %");
    // Once per threshold, however many reports crossed it.
    expect(both.map((a) => Number(a.threshold_pct)).sort((a, b) => a - b)).toEqual([50, 100]);
    for (const alert of both) {
      expect(alert).toMatchObject({ budget_id: id, scope: { type: "user", id: user }, member: user, limit: 1_000 });
      expect(Number(alert.used) * 100).toBeGreaterThanOrEqual(1_000 * Number(alert.threshold_pct));
    }
  });
}
