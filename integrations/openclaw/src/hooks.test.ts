import { type CheckRequest, type CheckResult, TollgateUnavailableError, type UsageReport } from "@tollgate/sdk";
import { describe, expect, it, vi } from "vitest";
import { otelDoubleCount, parseConfig } from "./config";
import { createHooks } from "./hooks";
import { BoundedMap } from "./runs";

const config = parseConfig({ url: "http://tollgate", apiKey: "k", orgId: "acme", maxOutputTokens: 100 }, {});
const quiet = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
const ctx = { runId: "run-1", sessionKey: "agent:main:openai-user:alice", agentId: "main", sessionId: "s1" };

function allow(over: Partial<CheckResult> = {}): CheckResult {
  return {
    decision: "allow",
    reason: "within every matching budget",
    model: "fake-a",
    maxOutputTokens: 100,
    costEstimateMicroUsd: 0,
    budgets: [],
    reservationId: "res-1",
    ...over,
  };
}

function fakeClient(answer: (request: CheckRequest) => CheckResult | Promise<CheckResult>) {
  const reserves: CheckRequest[] = [];
  const reports: UsageReport[] = [];
  const released: string[] = [];
  return {
    reserves,
    reports,
    released,
    client: {
      reserve: async (request: CheckRequest) => {
        reserves.push(request);
        return answer(request);
      },
      report: (usage: UsageReport) => void reports.push(usage),
      release: async (id: string) => {
        released.push(id);
        return true;
      },
      flush: async () => undefined,
    },
  };
}

describe("hooks", () => {
  it("reserves once per turn in before_model_resolve, with the user, agent and an estimate", async () => {
    const fake = fakeClient(() => allow());
    const hooks = createHooks({ client: fake.client, config, logger: quiet, defaultModelRef: "fakeprov/fake-a" });
    expect(await hooks.before_model_resolve({ prompt: "x".repeat(400) }, ctx)).toBeUndefined();
    expect(await hooks.before_agent_run({ prompt: "x".repeat(400), messages: [] }, ctx)).toEqual({ outcome: "pass" });
    expect(fake.reserves).toEqual([
      {
        orgId: "acme",
        teamId: undefined,
        projectId: undefined,
        feature: undefined,
        userId: "alice",
        agentId: "main",
        sessionId: "s1",
        model: "fake-a",
        provider: "fakeprov",
        inputTokens: 100,
        maxOutputTokens: 100,
      },
    ]);
  });

  it("blocks on deny with the budget, the usage and the reset time", async () => {
    const budget = {
      id: "daily",
      scope: { type: "user", id: "*" },
      metric: "tokens",
      limit: 3000,
      used: 3300,
      reserved: 0,
      remaining: 0,
      resetsAt: "2026-11-30T00:00:00.000Z",
    };
    const fake = fakeClient(() =>
      allow({ decision: "deny", reason: "budget daily", reservationId: undefined, decidingBudget: budget }),
    );
    const hooks = createHooks({ client: fake.client, config, logger: quiet });
    await hooks.before_model_resolve({ prompt: "hi" }, ctx);
    expect(await hooks.before_agent_run({ prompt: "hi", messages: [] }, ctx)).toEqual({
      outcome: "block",
      reason: "budget daily",
      category: "cost_limit",
      message:
        'Usage limit reached: 3,300 tokens of 3,000 tokens used (budget "daily"). It resets at 2026-11-30 00:00 UTC.',
    });
  });

  it("degrades to the budget's mapped model, else the plugin's own map", async () => {
    const budgetMapped = fakeClient(() => allow({ decision: "degrade", model: "fake-b" }));
    const hooks = createHooks({
      client: budgetMapped.client,
      config,
      logger: quiet,
      defaultModelRef: "fakeprov/fake-a",
    });
    expect(await hooks.before_model_resolve({ prompt: "hi" }, ctx)).toEqual({
      modelOverride: "fake-b",
      providerOverride: "fakeprov",
    });
    const own = createHooks({
      client: fakeClient(() => allow({ decision: "degrade" })).client,
      config: { ...config, degradeModels: { "fakeprov/fake-a": "cheap/tiny" } },
      logger: quiet,
      defaultModelRef: "fakeprov/fake-a",
    });
    expect(await own.before_model_resolve({ prompt: "hi" }, ctx)).toEqual({
      modelOverride: "tiny",
      providerOverride: "cheap",
    });
  });

  it("makes a new check for each run of a session", async () => {
    const fake = fakeClient(() => allow());
    const hooks = createHooks({ client: fake.client, config, logger: quiet });
    const output = { provider: "fakeprov", model: "fake-a", usage: { input: 1000, output: 100 } };
    for (const runId of ["run-a", "run-b"]) {
      await hooks.before_model_resolve({ prompt: "hi" }, { ...ctx, runId });
      await hooks.llm_output({ ...output, runId }, { ...ctx, runId });
    }
    expect(fake.reserves).toHaveLength(2);
    expect(fake.reports.map((r) => r.eventId)).toEqual(["run-a", "run-b"]);
  });

  it("checks in before_agent_run when before_model_resolve did not fire, counting the messages", async () => {
    const fake = fakeClient(() => allow());
    const hooks = createHooks({ client: fake.client, config, logger: quiet });
    await hooks.before_agent_run({ prompt: "abcd", messages: [{ role: "user", content: "x".repeat(40) }] }, ctx);
    expect(fake.reserves[0]?.inputTokens).toBe(11);
  });

  it("fails open by passing, fails closed by blocking with a clear message", async () => {
    const down = () => Promise.reject(new TollgateUnavailableError("timeout"));
    const open = createHooks({ client: fakeClient(down).client, config, logger: quiet });
    expect(await open.before_agent_run({ prompt: "hi" }, ctx)).toEqual({ outcome: "pass" });
    const closed = createHooks({
      client: fakeClient(down).client,
      config: { ...config, failMode: "closed" },
      logger: quiet,
    });
    expect(await closed.before_agent_run({ prompt: "hi" }, ctx)).toMatchObject({
      outcome: "block",
      message: expect.stringMatching(/cannot be checked/),
    });
  });

  it("reports llm_output once, settling the reservation, with the run id as event id", async () => {
    const fake = fakeClient(() => allow());
    const hooks = createHooks({ client: fake.client, config, logger: quiet });
    await hooks.before_model_resolve({ prompt: "hi" }, ctx);
    const output = {
      runId: "run-1",
      provider: "fakeprov",
      model: "fake-a",
      usage: { input: 900, output: 50, cacheRead: 100, cacheWrite: 0 },
    };
    await hooks.llm_output(output, ctx);
    await hooks.llm_output(output, ctx); // a second registration's copy of the same hook
    expect(fake.reports).toEqual([
      expect.objectContaining({
        userId: "alice",
        agentId: "main",
        model: "fake-a",
        provider: "fakeprov",
        inputTokens: 1000,
        outputTokens: 50,
        cachedTokens: 100,
        reservationId: "res-1",
        eventId: "run-1",
      }),
    ]);
  });

  it("releases the hold of a failed turn that used nothing", async () => {
    const fake = fakeClient(() => allow());
    const hooks = createHooks({ client: fake.client, config, logger: quiet });
    await hooks.before_model_resolve({ prompt: "hi" }, ctx);
    await hooks.agent_end({ success: false }, ctx);
    await hooks.llm_output({ runId: "run-1", usage: {} }, ctx);
    expect(fake.released).toEqual(["res-1"]);
    expect(fake.reports).toEqual([]);
  });

  it("shares one decision between registrations firing the same hook concurrently", async () => {
    const fake = fakeClient(async () => allow());
    const turns = new BoundedMap<never>();
    const a = createHooks({ client: fake.client, config, logger: quiet, turns });
    const b = createHooks({ client: fake.client, config, logger: quiet, turns });
    await Promise.all([a.before_model_resolve({ prompt: "hi" }, ctx), b.before_model_resolve({ prompt: "hi" }, ctx)]);
    expect(fake.reserves).toHaveLength(1);
  });
});

describe("BoundedMap", () => {
  it("forgets entries past their TTL and the oldest past its size", () => {
    let now = 0;
    const map = new BoundedMap<number>(2, 1_000, () => now);
    map.set("a", 1);
    map.set("b", 2);
    map.set("c", 3);
    expect([map.get("a"), map.get("b"), map.get("c")]).toEqual([undefined, 2, 3]);
    now = 1_000;
    expect(map.get("b")).toBeUndefined();
  });
});

describe("otelDoubleCount", () => {
  const otel = (endpoint: string, traces = true) => ({
    plugins: { entries: { "diagnostics-otel": { enabled: true } } },
    diagnostics: { enabled: true, otel: { enabled: true, endpoint, traces } },
  });
  it("names the fix when diagnostics-otel sends traces to the same Tollgate", () => {
    expect(otelDoubleCount(otel("http://127.0.0.1:4318"), "http://127.0.0.1:4318/")).toMatch(/counted twice/);
    expect(otelDoubleCount(otel("http://127.0.0.1:4318", false), "http://127.0.0.1:4318")).toBeUndefined();
    expect(otelDoubleCount(otel("http://collector:4318"), "http://127.0.0.1:4318")).toBeUndefined();
    expect(otelDoubleCount(undefined, "http://127.0.0.1:4318")).toBeUndefined();
  });
});
