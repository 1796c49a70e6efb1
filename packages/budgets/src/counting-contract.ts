import { createCounterStore, createKeyBuilder } from "@tollgate/counters";
import type { UsageEvent } from "@tollgate/events";
import { expect, it } from "vitest";
import type { Ledger } from "./ledger";
import { budget, engineFor, usage } from "./testing";

/**
 * The one counting path (BudgetEngine.count) on either store: running
 * totals and budgets counted together, once per event, replays recognised
 * by their log positions and retried reports by their event_id.
 */
export function countingContract(makeLedger: () => { ledger: Ledger; prefix: string }): void {
  const day = { type: "calendar", unit: "day" } as const;
  const setup = () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("user-day", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e9 }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix });
    const counters = createCounterStore(ledger, createKeyBuilder(prefix));
    const event = (overrides: Partial<UsageEvent>) =>
      usage({ org_id: "acme", user_id: "u1", project_id: "p1", timestamp_ms: clock.now, ...overrides });
    const tokensOf = async (user: string, org = "acme") => {
      const totals = await counters.totals({ org, user }, clock.now);
      const [standing] = await engine.standing({ org_id: org, user_id: user });
      return { total: totals.user?.day.tokens ?? 0, budget: standing?.used ?? 0 };
    };
    return { engine, clock, counters, event, tokensOf };
  };

  it("counts an event once into every running total and every budget it belongs to", async () => {
    const { engine, clock, counters, event, tokensOf } = setup();
    const e = event({ event_id: "once", team_id: "t1", session_id: "s1", total_tokens: 140 });
    expect(await engine.count([{ event: e }, { event: e }])).toEqual([true, false]);
    expect(await engine.count([{ event: e }])).toEqual([false]);
    const totals = await counters.totals(
      { org: "acme", user: "u1", team: "t1", session: "s1", model: e.model },
      clock.now,
    );
    const one = {
      tokens: 140,
      input_tokens: e.input_tokens,
      output_tokens: e.output_tokens,
      cost_micro_usd: e.cost_micro_usd,
      requests: 1,
    };
    for (const scope of ["user", "team", "session", "model"] as const)
      expect(totals[scope]).toEqual({ day: one, month: one });
    expect(await tokensOf("u1")).toEqual({ total: 140, budget: 140 });
  });

  it("counts exactly under concurrent duplicates", async () => {
    const { engine, event, tokensOf } = setup();
    const events = Array.from({ length: 50 }, (_, i) =>
      event({ event_id: `c${i}`, user_id: "dup", total_tokens: i + 1 }),
    );
    // Every event three times, in separate concurrent calls.
    const results = await Promise.all([...events, ...events, ...events].map((e) => engine.count([{ event: e }])));
    expect(results.flat().filter(Boolean)).toHaveLength(50);
    expect(await tokensOf("dup")).toEqual({ total: 1275, budget: 1275 }); // Σ (i + 1), i < 50
  });

  it("recognises a replay of the log by its positions, whatever the events' ids", async () => {
    const { engine, event, tokensOf } = setup();
    const at = (offset: number, partition = 0) => ({
      stream: `tollgate.usage.v1/${partition}`,
      offset: String(offset),
    });
    const batch = [0, 1, 2].map((i) => ({ event: event({ event_id: `p${i}`, total_tokens: 10 }), position: at(i) }));
    expect(await engine.count(batch)).toEqual([true, true, true]);
    // The same offsets again (a replay after a crash, long after the event ids were forgotten): nothing counts.
    const replay = [0, 1, 2].map((i) => ({
      event: event({ event_id: `late-${i}`, total_tokens: 10 }),
      position: at(i),
    }));
    expect(await engine.count(replay)).toEqual([false, false, false]);
    // Past the last offset, and on another partition, events count.
    const next = [
      { event: event({ event_id: "p3", total_tokens: 10 }), position: at(3) },
      { event: event({ event_id: "q0", total_tokens: 10 }), position: at(0, 1) },
    ];
    expect(await engine.count(next)).toEqual([true, true]);
    expect(await tokensOf("u1")).toEqual({ total: 50, budget: 50 });
    // Positions are per tenant: another org's events at the same offsets count.
    const other = [{ event: event({ event_id: "o0", org_id: "other", total_tokens: 7 }), position: at(0) }];
    expect(await engine.count(other)).toEqual([true]);
    expect(await tokensOf("u1", "other")).toEqual({ total: 7, budget: 7 });
  });

  it("settles the reservation an event names, in the same step", async () => {
    const { engine, event } = setup();
    const held = await engine.check(
      { org_id: "acme", user_id: "res" },
      { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 },
      true,
    );
    expect(held.reservation_id).toBeDefined();
    expect((await engine.standing({ org_id: "acme", user_id: "res" }))[0]?.reserved).toBe(100);
    const settled = event({
      event_id: "settles",
      user_id: "res",
      total_tokens: 30,
      reservation_id: held.reservation_id,
    });
    expect(await engine.count([{ event: settled }])).toEqual([true]);
    const [after] = await engine.standing({ org_id: "acme", user_id: "res" });
    expect({ used: after?.used, reserved: after?.reserved }).toEqual({ used: 30, reserved: 0 });
  });

  it("keeps tenants apart and reads an absent counter as zero", async () => {
    const { engine, counters, clock, event } = setup();
    await engine.count([{ event: event({ event_id: "t-other", org_id: "other", user_id: "u9" }) }]);
    expect((await counters.totals({ org: "other", user: "u9" }, clock.now)).user?.day.requests).toBe(1);
    expect((await counters.totals({ user: "u9" }, clock.now)).user?.day).toEqual({
      tokens: 0,
      input_tokens: 0,
      output_tokens: 0,
      cost_micro_usd: 0,
      requests: 0,
    });
  });

  it("charges a reservation that expires unsettled once, as its estimate; settled and released ones never", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("charged", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e9 }),
      budget("lapses", {
        scope: { type: "project", id: "*" },
        metric: "tokens",
        window: day,
        limit: 1e9,
        on_unsettled: "release",
      }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix });
    const counters = createCounterStore(ledger, createKeyBuilder(prefix));
    const subject = { org_id: "acme", project_id: "p1", user_id: "forgetful", agent_id: "a1" };
    const ask = { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 };
    const forgotten = await engine.check(subject, ask, true);
    const settled = await engine.check(subject, ask, true);
    const released = await engine.check(subject, ask, true);
    await engine.count([
      {
        event: usage({
          ...subject,
          event_id: "real",
          total_tokens: 30,
          reservation_id: settled.reservation_id,
          timestamp_ms: clock.now,
        }),
      },
    ]);
    expect(await engine.release(released.reservation_id as string)).toBe(true);
    expect((await engine.unsettled()).events).toEqual([]); // not expired yet

    clock.now += 600_001; // past the reservation TTL (engineFor: 600 s)
    const due = await engine.unsettled();
    expect(due.events).toHaveLength(1);
    expect(due.events[0]).toMatchObject({
      event_id: `unsettled:${forgotten.reservation_id}`,
      reservation_id: forgotten.reservation_id,
      source: "unsettled",
      cost_source: "estimated",
      user_id: "forgetful",
      total_tokens: 100,
      cost_micro_usd: forgotten.cost_estimate_micro_usd,
    });
    // Published but not counted yet: not sent again before the postponement ends; then again, the same event.
    await engine.postponeUnsettled(due.refs, clock.now + 60_000);
    expect((await engine.unsettled()).events).toEqual([]);
    clock.now += 60_001;
    const again = await engine.unsettled();
    expect(again.events.map((e) => e.event_id)).toEqual([`unsettled:${forgotten.reservation_id}`]);

    // Counted (twice delivered): charged once, and settled — nothing more to charge.
    const charge = again.events[0] as UsageEvent;
    expect(await engine.count([{ event: charge }, { event: { ...charge, received_at_ms: clock.now + 1 } }])).toEqual([
      true,
      false,
    ]);
    expect((await engine.unsettled()).events).toEqual([]);
    const standing = await engine.standing(subject);
    expect(standing.find((b) => b.id === "charged")?.used).toBe(130); // 30 settled + 100 charged
    expect(standing.find((b) => b.id === "lapses")?.used).toBe(30); // on_unsettled: release
    const totals = await counters.totals({ org: "acme", user: "forgetful" }, clock.now);
    expect(totals.user?.month).toMatchObject({ tokens: 130, requests: 2 });
  });
}
