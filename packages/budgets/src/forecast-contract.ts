import { expect, it } from "vitest";
import type { AlertRecord, BudgetForecastAlert } from "./alerts";
import type { Grant } from "./grants";
import type { Ledger } from "./ledger";
import { budget, engineFor, usage } from "./testing";

/**
 * Burn-rate forecasts on both ledgers (memory: unit; Redis: integration),
 * with an injected clock. The steady rate is 1,000 tokens a minute, one
 * event on each minute from 10:00 UTC; every reading is taken on a minute,
 * before that minute's event, so the usage counted is exactly the rate times
 * the time covered and the projection is exact.
 */
export function forecastContract(makeLedger: () => { ledger: Ledger; prefix: string }): void {
  const user = { org_id: "acme", project_id: "p1", user_id: "u1", agent_id: "a1" };
  const day = { type: "calendar", unit: "day" } as const;
  const t0 = Date.parse("2026-11-24T10:00:00Z");
  const MIN = 60_000;
  const ask = { model: "gpt-4o", input_tokens: 1, max_output_tokens: 0 };

  it("projects a steady rate's exhaustion to the second, none past the reset, and grants move it", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("day-100k", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 100_000 }),
      budget("day-1m", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1_000_000 }),
      budget("ever-1m", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 1_000_000,
        rate_limit: { requests_per_minute: 1_000 },
      }),
    ];
    const grants: Grant[] = [];
    const { engine, clock } = engineFor(ledger, budgets, { prefix, startMs: t0, grants });
    let minute = 0;
    /** Steady usage up to (not including) the minute `until`, then the clock on it. */
    const runTo = async (until: number) => {
      for (; minute < until; minute++) {
        clock.now = t0 + minute * MIN;
        await engine.applyEvent(
          usage({ event_id: `f${minute}`, ...user, timestamp_ms: clock.now, total_tokens: 1_000 }),
        );
      }
      clock.now = t0 + until * MIN;
    };
    const projected = async () =>
      Object.fromEntries(
        (await engine.standing(user)).map((s) => [`${s.id}/${s.limit_kind}`, s.projected_exhaustion_at]),
      );

    expect((await projected())["day-100k/window"]).toBeNull(); // no usage: no rate
    await runTo(4);
    expect((await projected())["day-100k/window"]).toBeNull(); // four minutes say too little
    // 100,000 at 1,000 a minute from 10:00 run out at 11:40, whenever it is asked: from five
    // minutes of history (young member, since its first usage) to past the hour (the rolling hour).
    for (const at of [5, 30, 60, 80]) {
      await runTo(at);
      expect(await projected(), `at 10:00 + ${at} min`).toEqual({
        "day-100k/window": "2026-11-24T11:40:00.000Z",
        "day-1m/window": null, // 02:40 tomorrow: after the day resets
        "ever-1m/window": new Date(t0 + 1_000 * MIN).toISOString(), // a lifetime never resets
        "ever-1m/requests_per_minute": null, // rate limits have no forecast
      });
    }
    // /v1/check answers the same, with and without a reservation (judged on the standing before the hold).
    for (const reserve of [false, true]) {
      const checked = await engine.check(user, ask, reserve);
      expect(checked.budgets.find((b) => b.id === "day-100k")?.projected_exhaustion_at).toBe(
        "2026-11-24T11:40:00.000Z",
      );
      if (checked.reservation_id) await engine.release(checked.reservation_id);
    }

    // A grant of 20,000 for u1 adds 20 minutes; one for someone else, nothing.
    for (const [id, member, amount] of [
      ["g1", "u1", 20_000],
      ["g2", "u2", 50_000],
    ] as const) {
      grants.push({
        id,
        budget_id: "day-100k",
        member,
        amount,
        expires_at_ms: t0 + 86_400_000,
        reason: null,
        created_at_ms: t0,
      });
    }
    expect((await projected())["day-100k/window"]).toBe("2026-11-24T12:00:00.000Z");

    // At the limit (and past it) there is nothing left to forecast; an idle hour later, no rate.
    await runTo(120);
    expect((await projected())["day-100k/window"]).toBeNull();
    clock.now += 2 * 3_600_000;
    expect((await projected())["ever-1m/window"]).toBeNull();
  });

  it("alerts a forecast once per member and period, again in the next period", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("day-100k", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: day,
        limit: 100_000,
        alert_thresholds_pct: [100],
      }),
      // No alert thresholds: it asks for no alerts, forecasts included.
      budget("quiet", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 100_000 }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix, startMs: t0 });
    const sent: BudgetForecastAlert[] = [];
    const publish = async (alerts: AlertRecord[]) => {
      for (const a of alerts) if (a.type === "budget.exhaustion_forecast") sent.push(a);
    };
    // One batch a minute, alerts after each, as the aggregator does.
    const batches = async (dayStart: number, from: number, to: number) => {
      for (let m = from; m < to; m++) {
        clock.now = dayStart + m * MIN;
        const event = usage({ event_id: `a${dayStart}-${m}`, ...user, timestamp_ms: clock.now, total_tokens: 1_000 });
        await engine.applyEvent(event);
        await engine.alerts([event], publish);
      }
    };
    await batches(t0, 0, 5);
    expect(sent).toEqual([]); // under five minutes of history
    await batches(t0, 5, 6);
    // At 10:05, after its event: 6,000 tokens in 5 minutes, 94,000 left → 78 min 20 s.
    expect(sent).toEqual([
      {
        type: "budget.exhaustion_forecast",
        alert_id: expect.stringMatching(/^[0-9a-f]{32}$/),
        budget_id: "day-100k",
        scope: { type: "user", id: "*" },
        member: "u1",
        metric: "tokens",
        limit: 100_000,
        used: 6_000,
        reserved: 0,
        remaining: 94_000,
        rate_per_hour: 72_000,
        projected_exhaustion_at: "2026-11-24T11:23:20.000Z",
        period: "d20261124",
        resets_at: "2026-11-25T00:00:00.000Z",
        event_id: `a${t0}-5`,
        at: "2026-11-24T10:05:00.000Z",
      },
    ]);
    // A second batch in the same period, and a replay of the first: no second alert.
    await batches(t0, 6, 30);
    expect(await engine.alerts([usage({ event_id: `a${t0}-5`, ...user, timestamp_ms: t0 + 5 * MIN })], publish)).toBe(
      0,
    );
    expect(sent).toHaveLength(1);

    // The next day is a new period: it alerts again, with a new id.
    const next = t0 + 86_400_000;
    await batches(next, 0, 10);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ period: "d20261125", at: "2026-11-25T10:05:00.000Z" });
    expect(sent[1]?.alert_id).not.toBe(sent[0]?.alert_id);
  });
}
