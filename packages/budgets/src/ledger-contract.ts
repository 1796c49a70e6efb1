import { expect, it } from "vitest";
import type { AlertRecord, BudgetAlert } from "./alerts";
import type { Ledger } from "./ledger";
import { budget, engineFor, usage } from "./testing";

/**
 * The behaviour both ledgers must have, run against memory (unit) and
 * against a real Redis (integration): one set of rules, two stores.
 */
export function ledgerContract(makeLedger: () => { ledger: Ledger; prefix: string }): void {
  const user = { org_id: "acme", project_id: "p1", user_id: "u1", agent_id: "a1" };
  const ask = { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 }; // 100 tokens

  it("lets at most the requests that fit through when 1,000 reserve at once, across three budget levels", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("org-day", {
        scope: { type: "org", id: "acme" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 5_000,
      }),
      budget("project-day", {
        scope: { type: "project", id: "p1" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 2_000,
      }),
      budget("user-day", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1_000,
      }),
    ];
    const { engine } = engineFor(ledger, budgets, { prefix });
    const results = await Promise.all(Array.from({ length: 1_000 }, () => engine.check(user, ask, true)));
    const allowed = results.filter((r) => r.reservation_id);
    expect(allowed).toHaveLength(10); // the user's 1,000 tokens: exactly 10 × 100
    expect(results.filter((r) => r.decision === "deny")).toHaveLength(990);
    const denied = results.find((r) => r.decision === "deny");
    expect(denied?.reason).toMatch(/budget user-day \(user u1\)/);
    const standing = await engine.standing(user);
    expect(standing.map((s) => [s.id, s.reserved, s.used])).toEqual([
      ["org-day", 1_000, 0],
      ["project-day", 1_000, 0],
      ["user-day", 1_000, 0],
    ]);
    // A second user shares the project: only the project's remaining 1,000 are left for them.
    const other = await Promise.all(
      Array.from({ length: 100 }, () => engine.check({ ...user, user_id: "u2" }, ask, true)),
    );
    expect(other.filter((r) => r.reservation_id)).toHaveLength(10);
    expect(other.find((r) => r.decision === "deny")?.reason).toMatch(/project-day|user-day/);
  });

  it("settles a reservation with the actual usage, releases one on request, and expires a forgotten one", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("user-day", {
        scope: { type: "user", id: "u1" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1_000,
      }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix });
    const a = await engine.check(user, ask, true);
    const b = await engine.check(user, ask, true);
    const c = await engine.check(user, ask, true);
    expect((await engine.standing(user))[0]).toMatchObject({ used: 0, reserved: 300 });

    // Settled: the hold of 100 is replaced by the 30 tokens actually used.
    const event = usage({
      event_id: "e-settle",
      ...user,
      timestamp_ms: clock.now,
      input_tokens: 20,
      output_tokens: 10,
      total_tokens: 30,
      reservation_id: a.reservation_id ?? null,
    });
    expect(await engine.applyEvent(event)).toBe(true);
    expect((await engine.standing(user))[0]).toMatchObject({ used: 30, reserved: 200 });
    expect(await engine.applyEvent(event)).toBe(false); // a duplicate counts nothing
    expect((await engine.standing(user))[0]).toMatchObject({ used: 30, reserved: 200 });

    expect(await engine.release(b.reservation_id as string)).toBe(true);
    expect(await engine.release(b.reservation_id as string)).toBe(false);
    expect((await engine.standing(user))[0]).toMatchObject({ used: 30, reserved: 100 });

    clock.now += 600_001; // past the reservation TTL: c's hold frees itself
    expect((await engine.standing(user))[0]).toMatchObject({ used: 30, reserved: 0 });
    expect(await engine.release(c.reservation_id as string)).toBe(false);
    expect(await engine.release("rsv_not-a-reservation")).toBe(false);
  });

  it("counts usage into the window of the event's time and rolls over by itself", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("user-day", {
        scope: { type: "user", id: "u1" },
        metric: "cost_usd",
        window: { type: "calendar", unit: "day", timezone: "Europe/Berlin" },
        limit_usd: "0.01",
      }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix });
    clock.now = Date.parse("2026-11-24T22:30:00Z"); // 23:30 in Berlin
    await engine.applyEvent(usage({ event_id: "e1", ...user, timestamp_ms: clock.now, cost_micro_usd: 9_000 }));
    const near = await engine.check(user, { model: "gpt-4o", input_tokens: 400, max_output_tokens: 100 }, false);
    expect(near.decision).toBe("deny"); // 9,000 + 2,000 µUSD > 10,000
    expect(near.resets_at).toBe("2026-11-24T23:00:00.000Z");
    expect(near.retry_after_s).toBe(1800);
    clock.now = Date.parse("2026-11-24T23:00:00Z"); // midnight in Berlin
    expect(
      (await engine.check(user, { model: "gpt-4o", input_tokens: 400, max_output_tokens: 100 }, false)).decision,
    ).toBe("allow");
  });

  it("alerts once per threshold and period, again after a failed publish, and anew in the next period", async () => {
    const { ledger, prefix } = makeLedger();
    const budgets = [
      budget("user-day", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1_000,
        alert_thresholds_pct: [50, 80, 100],
      }),
      budget("quiet", { scope: { type: "user", id: "*" }, metric: "tokens", window: { type: "lifetime" }, limit: 10 }),
    ];
    const { engine, clock } = engineFor(ledger, budgets, { prefix });
    const sent: BudgetAlert[] = [];
    const publish = async (alerts: AlertRecord[]) => {
      // All at one instant: no rate yet, so no forecast alert among these.
      for (const alert of alerts) if (alert.type !== "budget.exhaustion_forecast") sent.push(alert);
    };
    const spend = async (id: string, tokens: number) => {
      const event = usage({ event_id: id, ...user, timestamp_ms: clock.now, total_tokens: tokens });
      await engine.applyEvent(event);
      return engine.alerts([event], publish);
    };

    expect(await spend("a1", 400)).toBe(0); // 40 %
    expect(await spend("a2", 450)).toBe(2); // 85 %: 50 and 80 at once
    expect(sent.map((a) => [a.budget_id, a.threshold_pct, a.used, a.limit, a.event_id])).toEqual([
      ["user-day", 50, 850, 1_000, "a2"],
      ["user-day", 80, 850, 1_000, "a2"],
    ]);
    expect(await spend("a3", 10)).toBe(0); // already sent this period
    // The batch replayed after a crash: nothing counted twice, nothing re-sent.
    expect(await engine.alerts([usage({ event_id: "a2", ...user, timestamp_ms: clock.now })], publish)).toBe(0);

    // Publishing fails at 100 %: not marked, so the next call sends it, with the same id.
    const failing = async () => {
      throw new Error("broker down");
    };
    const last = usage({ event_id: "a4", ...user, timestamp_ms: clock.now, total_tokens: 200 });
    await engine.applyEvent(last);
    await expect(engine.alerts([last], failing)).rejects.toThrow("broker down");
    expect(await engine.alerts([last], publish)).toBe(1);
    expect(await engine.alerts([last], publish)).toBe(0);
    const full = sent.filter((a) => a.threshold_pct === 100);
    expect(full).toHaveLength(1);
    expect(full[0]?.used).toBe(1_060);

    // Next day, a new period: the same thresholds alert again, with new ids.
    const before = new Set(sent.map((a) => a.alert_id));
    clock.now += 86_400_000;
    expect(await spend("b1", 600)).toBe(1);
    expect(sent.at(-1)?.threshold_pct).toBe(50);
    expect(before.has(sent.at(-1)?.alert_id as string)).toBe(false);
  });

  it("frees each hold at its own expiry, whatever order the holds came in, released ones excepted", async () => {
    const { ledger, prefix } = makeLedger();
    const key = `${prefix}:v1:{t}:bud:holds-order:m:all`;
    const line = { keys: [key], holdsKeys: [`${key}:holds`], limit: 1e12, amount: 1, hard: true, ttlSeconds: 3_600 };
    const t0 = Date.parse("2026-11-24T10:00:00Z");
    const n = 3_000;
    // 7,919 is prime to 3,000: the offsets are a permutation of 0..2,999, far from insertion order.
    const offset = (i: number) => (i * 7_919) % n;
    const recordKey = (i: number) => `${prefix}:v1:{t}:res:holds-order-${i}`;
    const unsettled = { byExpiry: `${prefix}:v1:{t}:unsettled`, charges: `${prefix}:v1:{t}:unsettled:charges` };
    for (let i = 0; i < n; i++) {
      const held = await ledger.reserve(
        [line],
        {
          reservationId: `r${i}`,
          recordKey: recordKey(i),
          unsettled,
          expiresAtMs: t0 + 1_000 + offset(i),
          charge: "{}",
        },
        t0,
      );
      expect(held.held).toBe(true);
    }
    for (let i = 0; i < n; i += 3) {
      expect(await ledger.release({ recordKey: recordKey(i), reservationId: `r${i}`, unsettled }, t0)).toBe(true);
    }
    for (const at of [999, 1_000, 1_750, 2_999, 3_999]) {
      let live = 0;
      for (let i = 0; i < n; i++) if (i % 3 !== 0 && 1_000 + offset(i) > at) live++;
      const [standing] = await ledger.standings([{ ...line, amount: 0 }], t0 + at);
      expect(standing?.reserved, `at +${at} ms`).toBe(live);
    }
  });
}
