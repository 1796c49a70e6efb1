import { createKeyBuilder } from "@tollgate/counters";
import { loadPriceTable } from "@tollgate/pricing";
import { expect, it } from "vitest";
import { type DecisionLog, type DecisionRecord, decisionRecordOf } from "./decision-log";
import type { Ledger } from "./ledger";
import { budget } from "./testing";
import { budgetEngineFor } from "./wiring";

/**
 * The behaviour both decision logs must have, run against memory (unit) and
 * a real Redis, one server and a cluster (integration): one set of rules,
 * two stores. `make` gives a fresh log (a fresh key prefix) each time, with
 * room for `perTenant` records per tenant, and a ledger of the same store.
 */
export function decisionLogContract(
  make: (options: { perTenant: number }) => { log: DecisionLog; ledger: Ledger; prefix: string },
): void {
  const T0 = Date.now() - 60_000;
  const rec = (overrides: Partial<DecisionRecord> & { atMs?: number }): DecisionRecord => {
    const { atMs, ...rest } = overrides;
    return {
      at: new Date(atMs ?? T0).toISOString(),
      decision: "deny",
      reason: "budget b1 (user u1) exceeded",
      budget_id: "b1",
      org_id: "acme",
      team_id: null,
      project_id: "p1",
      user_id: "u1",
      agent_id: "a1",
      session_id: null,
      feature: null,
      task_type: null,
      model: "gpt-4o",
      degraded_to: null,
      ...rest,
    };
  };

  it("keeps each kind of decision with its identity, and reads them back newest first", async () => {
    const { log } = make({ perTenant: 100 });
    const kinds = ["deny", "throttle", "degrade", "warn"] as const;
    kinds.forEach((decision, i) => {
      log.record(
        rec({ decision, atMs: T0 + i * 1_000, ...(decision === "degrade" ? { degraded_to: "gpt-4o-mini" } : {}) }),
      );
    });
    await log.flush();
    const read = await log.recent({ org: "acme", sinceMs: T0 - 1, limit: 10 });
    expect(read.map((r) => r.decision)).toEqual(["warn", "degrade", "throttle", "deny"]);
    expect(read[1]).toEqual(rec({ decision: "degrade", atMs: T0 + 2_000, degraded_to: "gpt-4o-mini" }));
  });

  it("reads one org (or the checks without one), or every org for the operator", async () => {
    const { log } = make({ perTenant: 100 });
    log.record(rec({ org_id: "acme", atMs: T0 }));
    log.record(rec({ org_id: "globex", atMs: T0 + 1_000, user_id: "g1" }));
    log.record(rec({ org_id: null, atMs: T0 + 2_000, user_id: "n1" }));
    await log.flush();
    const users = async (org?: string | null) =>
      (await log.recent({ ...(org !== undefined ? { org } : {}), sinceMs: T0 - 1, limit: 10 })).map((r) => r.user_id);
    expect(await users("acme")).toEqual(["u1"]);
    expect(await users("globex")).toEqual(["g1"]);
    expect(await users(null)).toEqual(["n1"]);
    expect(await users("initech")).toEqual([]);
    expect(await users()).toEqual(["n1", "g1", "u1"]);
  });

  it("keeps to the time, the limit and the identity asked for", async () => {
    const { log } = make({ perTenant: 100 });
    for (let i = 0; i < 20; i++) log.record(rec({ atMs: T0 + i * 1_000, user_id: i % 2 === 0 ? "even" : "odd" }));
    await log.flush();
    const since = await log.recent({ org: "acme", sinceMs: T0 + 15_000, limit: 100 });
    expect(since.map((r) => Date.parse(r.at) - T0)).toEqual([19_000, 18_000, 17_000, 16_000, 15_000]);
    expect((await log.recent({ org: "acme", sinceMs: 0, limit: 3 })).map((r) => Date.parse(r.at) - T0)).toEqual([
      19_000, 18_000, 17_000,
    ]);
    const odd = await log.recent({ org: "acme", sinceMs: 0, limit: 4, match: { user_id: "odd" } });
    expect(odd.map((r) => [r.user_id, Date.parse(r.at) - T0])).toEqual([
      ["odd", 19_000],
      ["odd", 17_000],
      ["odd", 15_000],
      ["odd", 13_000],
    ]);
    expect(await log.recent({ sinceMs: 0, limit: 4, match: { project_id: "other" } })).toEqual([]);
  });

  it("stays bounded per tenant, keeping the newest", async () => {
    const { log } = make({ perTenant: 100 });
    // 500 at once: within what a log keeps in flight (a burst past it is dropped, by design).
    for (let i = 0; i < 500; i++) log.record(rec({ atMs: T0 + i }));
    await log.flush();
    const kept = await log.recent({ org: "acme", sinceMs: 0, limit: 10_000 });
    // About the cap: Redis trims a stream in whole nodes (MAXLEN ~), memory in chunks.
    expect(kept.length).toBeGreaterThanOrEqual(100);
    expect(kept.length).toBeLessThan(300);
    expect(Date.parse(kept[0]?.at ?? "") - T0).toBe(499);
  });

  it("is what the engine records: each non-allow check with the budget that decided, never an allow", async () => {
    const { log, ledger, prefix } = make({ perTenant: 100 });
    const budgets = [
      budget("org-day", {
        scope: { type: "org", id: "acme" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1_000_000,
      }),
      budget("user-day", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 150,
      }),
    ];
    const engine = budgetEngineFor({
      budgets: { all: () => budgets },
      grants: { all: () => [] },
      tiers: { get: () => undefined },
      ledger,
      keys: createKeyBuilder(prefix),
      prices: loadPriceTable(),
      env: { TOLLGATE_FAILURE_POLICY: "open", TOLLGATE_RESERVATION_TTL_SECONDS: 600 },
      decisions: log,
    });
    const who = { org_id: "acme", project_id: "p1", user_id: "u9", agent_id: "a1" };
    const ask = { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 };
    expect((await engine.check(who, ask, true)).decision).toBe("allow");
    const denied = await engine.check(who, ask, true);
    expect(denied.decision).toBe("deny");
    await log.flush();
    const [only, ...more] = await log.recent({ org: "acme", sinceMs: Date.now() - 60_000, limit: 10 });
    expect(more).toEqual([]);
    expect(only).toMatchObject({
      decision: "deny",
      reason: denied.reason,
      budget_id: "user-day",
      org_id: "acme",
      project_id: "p1",
      user_id: "u9",
      agent_id: "a1",
      model: "gpt-4o",
      degraded_to: null,
    });
  });
}

/** decisionRecordOf is pure: the same in both stores (here, so the contract file says all of it). */
export function decisionRecordRules(): void {
  it("names the degraded model, and records no allow", () => {
    const subject = { org_id: "acme", user_id: "u1", project_id: "" };
    const degraded = decisionRecordOf(
      subject,
      { decision: "degrade", reason: "r", model: "gpt-4o-mini" },
      "gpt-4o",
      "b1",
      Date.parse("2026-11-30T00:00:00Z"),
    );
    expect(degraded).toMatchObject({
      at: "2026-11-30T00:00:00.000Z",
      degraded_to: "gpt-4o-mini",
      model: "gpt-4o",
      project_id: null,
      team_id: null,
    });
    expect(decisionRecordOf(subject, { decision: "allow", reason: "r", model: "gpt-4o" }, "gpt-4o", null, 0)).toBe(
      null,
    );
  });
}
