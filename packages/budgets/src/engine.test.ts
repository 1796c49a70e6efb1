import { createCounterStore, createKeyBuilder } from "@tollgate/counters";
import { describe, expect, it } from "vitest";
import { createBudgetEngine } from "./engine";
import { type Grant, type TierAssignment, tierAssignmentId } from "./grants";
import type { Ledger } from "./ledger";
import { createMemoryLedger } from "./memory-ledger";
import { budget, engineFor, usage } from "./testing";

const who = { org_id: "acme", project_id: "p1", user_id: "u1", agent_id: "a1" };
const day = { type: "calendar", unit: "day" } as const;

describe("decisions", () => {
  it("applies an org's budget to that org's members only; a budget of no org to every org", async () => {
    const { engine } = engineFor(createMemoryLedger(), [
      budget("acme-users", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: day,
        limit: 5,
        org_id: "acme",
      }),
      budget("everyone", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1_000 }),
    ]);
    const request = { model: "gpt-4o", input_tokens: 10, max_output_tokens: 0 };
    const acme = await engine.check({ ...who, org_id: "acme" }, request, false);
    expect(acme.decision).toBe("deny");
    expect(acme.budgets.map((b) => b.id).sort()).toEqual(["acme-users", "everyone"]);
    const beta = await engine.check({ ...who, org_id: "beta" }, request, false);
    expect(beta.decision).toBe("allow");
    expect(beta.budgets.map((b) => b.id)).toEqual(["everyone"]);
  });

  it("blocks a degrade budget's member past its final ceiling (hard_limit_pct), reservations included", async () => {
    const { engine, clock } = engineFor(createMemoryLedger(), [
      budget("soft-day", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: day,
        limit: 100,
        action: "degrade",
        degrade: { model_map: { "gpt-4o": "gpt-4o-mini" } },
        hard_limit_pct: 150,
      }),
    ]);
    const ask = (input: number) =>
      engine.check(who, { model: "gpt-4o", input_tokens: input, max_output_tokens: 0 }, true);
    await engine.applyEvent(usage({ ...who, event_id: "used-120", total_tokens: 120, timestamp_ms: clock.now }));
    expect(await ask(20)).toMatchObject({ decision: "degrade", model: "gpt-4o-mini" }); // 140 of a 150 ceiling
    const denied = await ask(20); // 120 used + 20 held + 20 > 150
    expect(denied.decision).toBe("deny");
    expect(denied.reason).toMatch(/passes its final ceiling of 150% \(150 tokens; limit 100 tokens\)/);
    expect(denied.reservation_id).toBeUndefined();
    // Concurrent reservations cannot pass the ceiling either: of 10 × 5 tokens, only what fits in the 10 left.
    const many = await Promise.all(Array.from({ length: 10 }, () => ask(5)));
    expect(many.filter((r) => r.reservation_id)).toHaveLength(2);
  });

  it("refuses a final ceiling on a budget that blocks at its limit anyway", () => {
    expect(() =>
      budget("b", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1, hard_limit_pct: 150 }),
    ).toThrow(/hard_limit_pct[\s\S]*only for action degrade or warn/);
  });

  it('finds a member\'s budgets among 20,000 explicit ones, with the "*" ones and by every scope', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) =>
      budget(`user-${i}`, { scope: { type: "user", id: `u${i}` }, metric: "tokens", window: day, limit: 100 + i }),
    );
    const { engine } = engineFor(createMemoryLedger(), [
      ...many,
      budget("every-user", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e9 }),
      budget("project-p1", { scope: { type: "project", id: "p1" }, metric: "tokens", window: day, limit: 1e9 }),
      budget("agent-a9", { scope: { type: "agent", id: "a9" }, metric: "tokens", window: day, limit: 1e9 }),
    ]);
    const request = { model: "gpt-4o", input_tokens: 1, max_output_tokens: 0 };
    const found = await engine.check({ ...who, user_id: "u12345" }, request, false);
    expect(found.budgets.map((b) => [b.id, b.limit])).toEqual([
      ["project-p1", 1e9],
      ["every-user", 1e9],
      ["user-12345", 12_445],
    ]);
    const none = await engine.check({ ...who, user_id: "nobody", project_id: "p2" }, request, false);
    expect(none.budgets.map((b) => b.id)).toEqual(["every-user"]);
  });

  it("applies per-request limits: too much input is denied, too much output is capped", async () => {
    const { engine } = engineFor(createMemoryLedger(), [
      budget("per-request", {
        scope: { type: "project", id: "p1" },
        metric: "tokens",
        window: day,
        limit: 1_000_000,
        per_request: { max_input_tokens: 8_000, max_output_tokens: 1_024 },
      }),
    ]);
    const big = await engine.check(who, { model: "gpt-4o", input_tokens: 9_000, max_output_tokens: 10 }, true);
    expect(big.decision).toBe("deny");
    expect(big.reason).toMatch(/9000 input tokens exceed the per-request limit of 8000/);
    expect(big.reservation_id).toBeUndefined();
    const capped = await engine.check(who, { model: "gpt-4o", input_tokens: 10, max_output_tokens: 4_096 }, false);
    expect(capped).toMatchObject({ decision: "allow", max_output_tokens: 1_024 });
  });

  it("throttles past a rate limit with the time until the window frees, and wildcard members count apart", async () => {
    const { engine, clock } = engineFor(createMemoryLedger(), [
      budget("rpm", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: day,
        limit: 1_000_000,
        rate_limit: { requests_per_minute: 3 },
      }),
    ]);
    clock.now = Date.parse("2026-11-24T10:00:02Z");
    const ask = { model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 };
    for (let i = 0; i < 3; i++) expect((await engine.check(who, ask, true)).decision).toBe("allow");
    const fourth = await engine.check(who, ask, true);
    expect(fourth.decision).toBe("throttle");
    expect(fourth.reason).toMatch(/requests per minute limit of 3 requests/);
    expect(fourth.retry_after_s).toBe(3); // the oldest 5-second slice leaves the minute at 10:00:05
    expect((await engine.check({ ...who, user_id: "u2" }, ask, true)).decision).toBe("allow");
    clock.now += 60_000;
    expect((await engine.check(who, ask, true)).decision).toBe("allow");
  });

  it("picks the strictest outcome and names the widest budget among equals", async () => {
    const { engine } = engineFor(createMemoryLedger(), [
      budget("user-warn", {
        scope: { type: "user", id: "u1" },
        metric: "tokens",
        window: day,
        limit: 10,
        action: "warn",
      }),
      budget("project-throttle", {
        scope: { type: "project", id: "p1" },
        metric: "requests",
        window: day,
        limit: 0,
        action: "throttle",
      }),
      budget("org-block", { scope: { type: "org", id: "acme" }, metric: "tokens", window: day, limit: 1_000 }),
      budget("other-model", {
        scope: { type: "org", id: "acme" },
        metric: "tokens",
        window: day,
        limit: 0,
        filter: { model: "o3" },
      }),
    ]);
    const result = await engine.check(who, { model: "gpt-4o", input_tokens: 50, max_output_tokens: 0 }, false);
    expect(result.decision).toBe("throttle");
    expect(result.reason).toMatch(/^budget project-throttle \(project p1\)/);
    expect(result.budgets.map((b) => [b.id, b.decision])).toEqual([
      ["org-block", "allow"],
      ["project-throttle", "throttle"],
      ["user-warn", "warn"],
    ]);
  });
});

describe("the ledger failing", () => {
  const broken: Ledger = {
    standings: () => Promise.reject(new Error("Command timed out")),
    reserve: () => Promise.reject(new Error("Command timed out")),
    count: () => Promise.reject(new Error("Command timed out")),
    fields: () => Promise.reject(new Error("Command timed out")),
    expired: () => Promise.reject(new Error("Command timed out")),
    postpone: () => Promise.reject(new Error("Command timed out")),
    release: () => Promise.reject(new Error("Command timed out")),
    marked: () => Promise.reject(new Error("Command timed out")),
    mark: () => Promise.reject(new Error("Command timed out")),
    ping: () => Promise.reject(new Error("Command timed out")),
  };

  it("fails open by default and says so, and closed where a budget asks for it", async () => {
    const open = engineFor(broken, [
      budget("b", { scope: { type: "user", id: "u1" }, metric: "tokens", window: day, limit: 10 }),
    ]).engine;
    const allowed = await open.check(who, { model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 }, true);
    expect(allowed.decision).toBe("allow");
    expect(allowed.reason).toMatch(/budget counters unavailable; failing open/);
    // The ledger's own error text is for the logs, never for the client.
    expect(allowed.reason).not.toMatch(/Command timed out/);
    expect(allowed.reservation_id).toBeUndefined();

    const closed = engineFor(broken, [
      budget("b", {
        scope: { type: "user", id: "u1" },
        metric: "tokens",
        window: day,
        limit: 10,
        failure_policy: "closed",
      }),
    ]).engine;
    const denied = await closed.check(who, { model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 }, true);
    expect(denied.decision).toBe("deny");
    expect(denied.reason).toMatch(/budget b fails closed/);
  });

  it("releases a hold whose reply never came: the caller, told to go ahead without a reservation, is not charged twice", async () => {
    const memory = createMemoryLedger();
    // The hold is made, then the reply is lost (a command timeout after Redis ran the script).
    const lateReply: Ledger = {
      ...memory,
      reserve: async (...args) => {
        await memory.reserve(...args);
        throw new Error("Command timed out");
      },
    };
    const b = budget("b", { scope: { type: "user", id: "u1" }, metric: "tokens", window: day, limit: 1_000 });
    const { engine } = engineFor(lateReply, [b]);
    const answer = await engine.check(who, { model: "gpt-4o", input_tokens: 100, max_output_tokens: 100 }, true);
    expect(answer.decision).toBe("allow");
    expect(answer.reservation_id).toBeUndefined();
    const standing = async () => (await engineFor(memory, [b]).engine.standing(who)).find((s) => s.id === "b");
    await expect.poll(async () => (await standing())?.reserved).toBe(0);
    expect((await memory.expired(Number.MAX_SAFE_INTEGER, 10)).length).toBe(0);
  });

  it("does not count a usage event it could not write (the aggregator retries the batch)", async () => {
    const { engine } = engineFor(broken, [
      budget("b", { scope: { type: "user", id: "u1" }, metric: "tokens", window: day, limit: 10 }),
    ]);
    await expect(engine.applyEvent(usage({ ...who }))).rejects.toThrow(/timed out/);
  });
});

describe("grants and tiers", () => {
  it("tops a budget up for one member until the grant expires", async () => {
    const ledger = createMemoryLedger();
    const budgets = [
      budget("user-day", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 100 }),
    ];
    const grants: Grant[] = [];
    let now = Date.parse("2026-11-24T10:00:00Z");
    const engine = createBudgetEngine({
      // A new array each time: the engine keeps an index per array (the stores hand out a new one after a change).
      budgets: { all: () => [...budgets] },
      grants: { all: () => [...grants] },
      ledger,
      keys: createKeyBuilder("tg"),
      price: () => null,
      reservationTtlMs: 60_000,
      failurePolicy: "open",
      clock: () => now,
    });
    const ask = { model: "gpt-4o", input_tokens: 150, max_output_tokens: 0 };
    expect((await engine.check(who, ask, false)).decision).toBe("deny");
    grants.push({
      id: "g1",
      budget_id: "user-day",
      member: "u1",
      amount: 100,
      expires_at_ms: now + 3_600_000,
      reason: "launch day",
      created_at_ms: now,
    });
    const granted = await engine.check(who, ask, false);
    expect(granted.decision).toBe("allow");
    expect(granted.budgets[0]).toMatchObject({ limit: 200, remaining: 200 });
    expect((await engine.check({ ...who, user_id: "u2" }, ask, false)).decision).toBe("deny"); // someone else's grant
    now += 3_600_000;
    expect((await engine.check(who, ask, false)).decision).toBe("deny"); // expired
  });

  it("applies tier budgets to the users assigned that tier, whatever a caller claims", async () => {
    const budgets = [
      budget("free-tier", {
        scope: { type: "user", id: "*" },
        metric: "requests",
        window: day,
        limit: 0,
        tier: "free",
      }),
    ];
    const assignments = new Map([
      [tierAssignmentId("acme", "u1"), { id: "", org_id: "acme", user_id: "u1", tier: "free", updated_at_ms: 0 }],
    ]);
    const engine = createBudgetEngine({
      // A new array each time: the engine keeps an index per array (the stores hand out a new one after a change).
      budgets: { all: () => [...budgets] },
      tiers: { get: (id) => assignments.get(id) },
      ledger: createMemoryLedger(),
      keys: createKeyBuilder("tg"),
      price: () => null,
      reservationTtlMs: 60_000,
      failurePolicy: "open",
    });
    const ask = { model: "gpt-4o", input_tokens: 1, max_output_tokens: 1 };
    expect((await engine.check(who, ask, false)).decision).toBe("deny");
    expect((await engine.check({ ...who, tier: "enterprise" }, ask, false)).decision).toBe("deny");
    expect((await engine.check({ ...who, user_id: "u2" }, ask, false)).decision).toBe("allow");
  });
});

describe("counting with the plan cache (the definitions' array kept until they change)", () => {
  it("counts each event into the buckets of its own time and into budgets added since, and follows tier changes", async () => {
    let definitions = [
      budget("user-day", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e9 }),
    ];
    const assignments = new Map<string, TierAssignment>();
    let now = Date.parse("2026-11-24T23:59:50Z");
    const ledger = createMemoryLedger();
    const keys = createKeyBuilder("tg");
    const engine = createBudgetEngine({
      budgets: { all: () => definitions }, // the same array until replaced, as the stores do
      tiers: { get: (id) => assignments.get(id) },
      ledger,
      keys,
      price: () => null,
      reservationTtlMs: 60_000,
      failurePolicy: "open",
      clock: () => now,
    });
    const counters = createCounterStore(ledger, keys);
    const report = (id: string, tokens: number) =>
      engine.count([{ event: usage({ ...who, event_id: id, total_tokens: tokens, timestamp_ms: now }) }]);
    const used = async (id: string) => (await engine.standing(who)).find((b) => b.id === id)?.used;

    await report("before-midnight", 10);
    await report("also-before", 5);
    expect(await used("user-day")).toBe(15);
    now = Date.parse("2026-11-25T00:00:05Z"); // a new day: a new bucket, for the budget and the running totals
    await report("after-midnight", 7);
    expect(await used("user-day")).toBe(7);
    expect((await counters.totals({ org: "acme", user: "u1" }, now)).user?.day.tokens).toBe(7);

    definitions = [
      ...definitions,
      budget("project-day", { scope: { type: "project", id: "p1" }, metric: "tokens", window: day, limit: 1e9 }),
      budget("free-users", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: day,
        limit: 1e9,
        tier: "free",
      }),
    ];
    await report("after-change", 3);
    expect(await used("project-day")).toBe(3);
    expect(await used("user-day")).toBe(10);
    assignments.set(tierAssignmentId("acme", "u1"), {
      id: "",
      org_id: "acme",
      user_id: "u1",
      tier: "free",
      updated_at_ms: 0,
    });
    await report("now-free", 2);
    expect(await used("free-users")).toBe(2);
  });
});
