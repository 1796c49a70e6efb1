import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../support/engines";
import { call } from "../support/http";
import { eventually } from "../support/processes";
import { type Mode, type Stack, startStack } from "../support/stack";

/**
 * No call counted as free, in both modes: a reservation that is never
 * settled nor released is charged once, as its estimate, when it expires
 * (a usage event with source "unsettled", cost_source "estimated") — also
 * when the aggregator is killed around its expiry. Each test charges a
 * second reservation after the first: by then the sweep has run again and
 * again, so "once" is read after it had every chance to charge twice.
 */
describe.each<Mode>(["embedded", "distributed"])("unsettled reservations (%s)", (mode) => {
  let stack: Stack;
  const org = runId("uns_");

  beforeAll(async () => {
    stack = await startStack(mode, { TOLLGATE_RESERVATION_TTL_SECONDS: "1" });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const api = (method: string, path: string, json?: unknown) =>
    call(method, `${stack.enforcementUrl}${path}`, { key: stack.adminKey, ...(json === undefined ? {} : { json }) });
  const reserve = async (user: string) => {
    const reply = await api("POST", "/v1/check", {
      org_id: org,
      project_id: "p1",
      user_id: user,
      agent_id: "a1",
      model: "gpt-4o",
      input_tokens: 600,
      max_output_tokens: 400,
      reserve: true,
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.reservation_id).toBeDefined();
    return reply.body as { reservation_id: string; cost_estimate_micro_usd: number };
  };
  /** What the running totals say of the user (its month) and what the named budget has used. */
  const charged = async (user: string, budget: string) => {
    const reply = await api("GET", `/v1/usage?org_id=${org}&user_id=${user}`);
    return {
      requests: Number(reply.body.totals?.user?.month?.requests ?? 0),
      tokens: Number(reply.body.totals?.user?.month?.tokens ?? 0),
      used: Number(reply.body.budgets?.find((b: { id: string }) => b.id === budget)?.used ?? 0),
    };
  };
  const chargedOnce = (user: string, budget: string) =>
    eventually(
      async () => {
        const now = await charged(user, budget);
        return now.requests > 0 ? now : undefined;
      },
      `the unsettled reservation of ${user} charged`,
      30_000,
    );

  const budgetFor = async (user: string, onUnsettled?: "release") => {
    const id = `${org}-${user}`;
    const put = await api("PUT", `/v1/budgets/${id}`, {
      scope: { type: "user", id: user },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1_000_000,
      org_id: org,
      ...(onUnsettled ? { on_unsettled: onUnsettled } : {}),
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    // The aggregator counts with the budgets it has loaded: wait until a check sees this one.
    await stack.settle(async () => {
      const reply = await api("GET", `/v1/usage?org_id=${org}&user_id=${user}`);
      return reply.body.budgets?.some((b: { id: string }) => b.id === id) ? true : undefined;
    }, "the budget loaded");
    return id;
  };

  it("charges a forgotten reservation once, as its estimate; a released one never", async () => {
    const user = runId("forgetful_");
    const budget = await budgetFor(user);
    const forgotten = await reserve(user);
    const released = await reserve(user);
    expect((await api("DELETE", `/v1/reservations/${released.reservation_id}`)).status).toBeLessThan(300);
    expect(await chargedOnce(user, budget)).toEqual({ requests: 1, tokens: 1_000, used: 1_000 });

    // Later sweeps must not charge it again: another user's charge marks that they ran.
    const later = runId("later_");
    await budgetFor(later);
    await reserve(later);
    await chargedOnce(later, `${org}-${later}`);
    expect(await charged(user, budget)).toEqual({ requests: 1, tokens: 1_000, used: 1_000 });

    // Reports tell unsettled charges apart: counted in the totals and apart, from the rollups and the raw events.
    type Row = Record<string, string | number>;
    const report = (path: string) =>
      eventually(
        async () => {
          const reply = await call("GET", `${stack.reportsUrl}${path}`, { key: stack.adminKey });
          expect(reply.status, JSON.stringify(reply.body)).toBe(200);
          const rows = reply.body.rows as Row[];
          return rows.length > 0 ? rows : undefined;
        },
        `${path} with the charge`,
        30_000,
      );
    const apart = (row: Row | undefined) => ({
      requests: Number(row?.requests),
      cost: Number(row?.cost_micro_usd),
      unsettledRequests: Number(row?.unsettled_requests),
      unsettledCost: Number(row?.unsettled_cost_micro_usd),
    });
    const charge = { unsettledRequests: 1, unsettledCost: forgotten.cost_estimate_micro_usd };
    const expected = { requests: 1, cost: forgotten.cost_estimate_micro_usd, ...charge };
    const byUser = await report(`/v1/reports/top?org_id=${org}&by=user&user_id=${user}`);
    expect(apart(byUser[0])).toEqual(expected);
    const daily = await report(`/v1/reports/spend?org_id=${org}&group_by=user&granularity=day&user_id=${user}`);
    expect(apart(daily[0])).toEqual(expected);
    const hourly = await report(`/v1/reports/spend?org_id=${org}&group_by=user&granularity=hour&user_id=${user}`);
    expect(apart(hourly[0])).toEqual(expected);
    const sessions = await report(`/v1/reports/top?org_id=${org}&by=session&user_id=${user}`);
    expect(apart(sessions[0])).toEqual(expected);

    // The stored event's source and cost source.
    const { rows } = await stack.finalRead([`unsettled:${forgotten.reservation_id}`], null);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ source: "unsettled", cost_source: "estimated", total_tokens: 1_000 });
    expect(Number(rows[0]?.cost_micro_usd)).toBe(forgotten.cost_estimate_micro_usd);
  });

  // Distributed mode only: the aggregator is its own process there (embedded mode restarts as a whole, memory lost).
  if (mode === "distributed") {
    it("charges once through an aggregator SIGKILL around the expiry; a releasing budget is not charged", async () => {
      const user = runId("crash_");
      const org = runId("unsk_");
      for (const [id, onUnsettled] of [
        [`${org}-charged`, "charge"],
        [`${org}-lapses`, "release"],
      ] as const) {
        const put = await api("PUT", `/v1/budgets/${id}`, {
          scope: { type: "user", id: user },
          metric: "tokens",
          window: { type: "calendar", unit: "day" },
          limit: 1_000_000,
          org_id: org,
          on_unsettled: onUnsettled,
        });
        expect(put.status, JSON.stringify(put.body)).toBe(201);
      }
      const check = await api("POST", "/v1/check", {
        org_id: org,
        project_id: "p1",
        user_id: user,
        agent_id: "a1",
        model: "gpt-4o",
        input_tokens: 60,
        max_output_tokens: 40,
        reserve: true,
      });
      expect(check.body.reservation_id).toBeDefined();
      // The reservation expires while the aggregator (which sweeps and counts) is dead or starting.
      await stack.restart("aggregator", "SIGKILL");
      const standing = await eventually(
        async () => {
          const reply = await api("GET", `/v1/usage?org_id=${org}&user_id=${user}`);
          const used = (id: string) => Number(reply.body.budgets?.find((b: { id: string }) => b.id === id)?.used ?? -1);
          const requests = Number(reply.body.totals?.user?.month?.requests ?? 0);
          return requests > 0
            ? { requests, charged: used(`${org}-charged`), lapses: used(`${org}-lapses`) }
            : undefined;
        },
        "the charge counted after the restart",
        60_000,
      );
      expect(standing).toEqual({ requests: 1, charged: 100, lapses: 0 });
      const { rows } = await stack.finalRead([`unsettled:${check.body.reservation_id}`], null);
      expect(rows).toHaveLength(1);
    });
  }
});
