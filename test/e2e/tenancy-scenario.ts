import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, type Reply } from "../support/http";
import type { SkeletonTarget } from "./skeleton-scenario";

/**
 * Who may read and change what, route by route: the operator (bootstrap
 * key), the admins of two orgs, an agent and a viewer of org A, and no key.
 * Then the ways an agent of A might write into org B (a JSON field, a span
 * attribute, a resource attribute), each refused while A's own usage goes
 * through. Both modes run it.
 */
type Who = "operator" | "adminA" | "adminB" | "agentA" | "viewerA" | "none";
const EVERYONE: Who[] = ["operator", "adminA", "adminB", "agentA", "viewerA", "none"];
/** Something of org A that viewers read: B's admin gets `foreign` (404 where a miss hides it, 403 where it names A). */
const readableInA = (foreign: 403 | 404): Record<Who, number> => ({
  operator: 200,
  adminA: 200,
  adminB: foreign,
  agentA: 403,
  viewerA: 200,
  none: 401,
});

export function tenancyScenario(target: () => SkeletonTarget): void {
  const orgA = runId("orgA_");
  const orgB = runId("orgB_");
  const user = runId("tenant_user_");
  const keys: Record<Who, string | undefined> = {
    operator: undefined,
    adminA: undefined,
    adminB: undefined,
    agentA: undefined,
    viewerA: undefined,
    none: undefined,
  };
  const ids = { keyOfA: "", keyOfB: "", budgetOfA: runId("budA_"), grantOfA: "" };
  const from = new Date(Date.now() - 86_400_000).toISOString();
  const to = new Date(Date.now() + 86_400_000).toISOString();

  const ask = (who: Who, method: string, url: string, json?: unknown): Promise<Reply> =>
    call(method, url, { ...(keys[who] ? { key: keys[who] } : {}), ...(json === undefined ? {} : { json }) });
  /** Every principal's status for one request, sent in turn. */
  const statuses = async (request: (who: Who) => Promise<Reply>): Promise<Record<Who, number>> => {
    const out = {} as Record<Who, number>;
    for (const who of EVERYONE) out[who] = (await request(who)).status;
    return out;
  };
  const usageOf = async (org: string) => {
    const t = target();
    const reply = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}&org_id=${org}`, { key: t.adminKey });
    expect(reply.status).toBe(200);
    return reply.body.totals.user.day as { tokens: number; requests: number };
  };

  it("tenancy: org admins make keys bound to their org; only the operator makes keys of any org", async () => {
    const t = target();
    keys.operator = t.adminKey;
    const make = async (as: string, body: Record<string, unknown>) => {
      const reply = await call("POST", `${t.enforcementUrl}/v1/keys`, { key: as, json: body });
      expect(reply.status, JSON.stringify(reply.body)).toBe(201);
      return reply.body as { id: string; key: string; org_id: string | null };
    };
    keys.adminA = (await make(t.adminKey, { role: "admin", name: "admin of A", org_id: orgA })).key;
    keys.adminB = (await make(t.adminKey, { role: "admin", name: "admin of B", default_tags: { org_id: orgB } })).key;
    // Made by A's admin without naming an org: bound to A all the same.
    const agent = await make(keys.adminA, {
      role: "agent",
      name: "agent of A",
      default_tags: { project_id: "tenancy", agent_id: "bot" },
    });
    expect(agent.org_id).toBe(orgA);
    keys.agentA = agent.key;
    keys.viewerA = (await make(keys.adminA, { role: "viewer", name: "viewer of A" })).key;
    ids.keyOfA = agent.id;
    ids.keyOfB = (await make(keys.adminB, { role: "agent", name: "agent of B" })).id;

    expect(
      await statuses((who) =>
        ask(who, "POST", `${t.enforcementUrl}/v1/keys`, { role: "viewer", name: "x", org_id: orgA }),
      ),
    ).toEqual({ operator: 201, adminA: 201, adminB: 403, agentA: 403, viewerA: 403, none: 401 });

    const listed = async (who: Who) =>
      ((await ask(who, "GET", `${t.enforcementUrl}/v1/keys`)).body.keys as Array<{ id: string; org_id: string }>).map(
        (k) => k.id,
      );
    expect(await statuses((who) => ask(who, "GET", `${t.enforcementUrl}/v1/keys`))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 200,
      agentA: 403,
      viewerA: 403,
      none: 401,
    });
    expect(await listed("operator")).toEqual(expect.arrayContaining([ids.keyOfA, ids.keyOfB]));
    expect(await listed("adminA")).toContain(ids.keyOfA);
    expect(await listed("adminA")).not.toContain(ids.keyOfB);
    expect(await listed("adminB")).not.toContain(ids.keyOfA);

    // Another org's key answers as a missing one; its own admin can revoke it.
    const spare = await make(keys.adminA, { role: "viewer", name: "spare" });
    expect((await ask("adminB", "DELETE", `${t.enforcementUrl}/v1/keys/${spare.id}`)).status).toBe(404);
    expect((await ask("agentA", "DELETE", `${t.enforcementUrl}/v1/keys/${spare.id}`)).status).toBe(403);
    expect((await ask("adminA", "DELETE", `${t.enforcementUrl}/v1/keys/${spare.id}`)).status).toBe(204);
  });

  it("tenancy: budgets, grants and tiers belong to an org; another org's admin neither sees nor changes them", async () => {
    const t = target();
    const url = `${t.enforcementUrl}/v1/budgets/${ids.budgetOfA}`;
    const definition = { scope: { type: "user", id: "*" }, metric: "tokens", window: { type: "lifetime" }, limit: 100 };
    expect((await ask("adminA", "PUT", url, definition)).status).toBe(201);
    expect(await statuses((who) => ask(who, "PUT", url, definition))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 409,
      agentA: 403,
      viewerA: 403,
      none: 401,
    });
    // A's admin made it, so it is A's; the operator's rewrite without org_id kept the org.
    expect((await ask("operator", "GET", url)).body.org_id).toBe(orgA);
    expect((await ask("adminB", "PUT", `${url}-b`, { ...definition, org_id: orgA })).status).toBe(403);

    expect(await statuses((who) => ask(who, "GET", url))).toEqual(readableInA(404));
    const listed = async (who: Who) =>
      ((await ask(who, "GET", `${t.enforcementUrl}/v1/budgets`)).body.budgets as Array<{ id: string }>).map(
        (b) => b.id,
      );
    expect(await listed("adminA")).toContain(ids.budgetOfA);
    expect(await listed("viewerA")).toContain(ids.budgetOfA);
    expect(await listed("adminB")).not.toContain(ids.budgetOfA);
    expect(await listed("operator")).toContain(ids.budgetOfA);

    const grant = { amount: 5, expires_at: new Date(Date.now() + 3_600_000).toISOString() };
    expect(await statuses((who) => ask(who, "POST", `${url}/grants`, grant))).toEqual({
      operator: 201,
      adminA: 201,
      adminB: 404,
      agentA: 403,
      viewerA: 403,
      none: 401,
    });
    expect(await statuses((who) => ask(who, "GET", `${url}/grants`))).toEqual(readableInA(404));
    ids.grantOfA = (await ask("adminA", "GET", `${url}/grants`)).body.grants[0].id;
    expect((await ask("adminB", "DELETE", `${url}/grants/${ids.grantOfA}`)).status).toBe(404);
    expect((await ask("adminA", "DELETE", `${url}/grants/${ids.grantOfA}`)).status).toBe(204);

    const tier = `${t.enforcementUrl}/v1/users/${user}/tier`;
    expect(await statuses((who) => ask(who, "PUT", tier, { tier: "pro", org_id: orgA }))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 403,
      agentA: 403,
      viewerA: 403,
      none: 401,
    });
    expect(await statuses((who) => ask(who, "GET", `${tier}?org_id=${orgA}`))).toEqual(readableInA(403));
    // A's admin without naming the org reads its own org's assignment.
    expect((await ask("adminA", "GET", tier)).body).toMatchObject({ org_id: orgA, tier: "pro" });
    expect((await ask("adminB", "DELETE", `${tier}?org_id=${orgA}`)).status).toBe(403);
    expect((await ask("adminB", "DELETE", `${url}`)).status).toBe(404);
  });

  it("tenancy: an agent of A checks and reports as A only; naming org B is refused on every path", async () => {
    const t = target();
    const check = (org: string) => ({
      org_id: org,
      user_id: user,
      project_id: "tenancy",
      agent_id: "bot",
      input_tokens: 1,
    });
    expect(await statuses((who) => ask(who, "POST", `${t.enforcementUrl}/v1/check`, check(orgA)))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 403,
      agentA: 200,
      viewerA: 403,
      none: 401,
    });
    const foreign = await ask("agentA", "POST", `${t.enforcementUrl}/v1/check`, check(orgB));
    expect(foreign.status).toBe(403);
    expect(foreign.body.errors[0].path).toBe("org_id");

    // A reservation of A cannot be released by B's admin (it answers as unknown).
    const held = await ask("agentA", "POST", `${t.enforcementUrl}/v1/check`, { ...check(orgA), reserve: true });
    const reservation = held.body.reservation_id as string;
    expect(reservation).toMatch(/^rsv_/);
    expect((await ask("adminB", "DELETE", `${t.enforcementUrl}/v1/reservations/${reservation}`)).status).toBe(404);
    expect((await ask("viewerA", "DELETE", `${t.enforcementUrl}/v1/reservations/${reservation}`)).status).toBe(403);
    expect((await ask("agentA", "DELETE", `${t.enforcementUrl}/v1/reservations/${reservation}`)).status).toBe(204);

    const event = (org: string | undefined, tokens: number) => ({
      ...(org ? { org_id: org } : {}),
      user_id: user,
      model: "gpt-4o",
      usage: { input_tokens: tokens, output_tokens: 0 },
    });
    const mixed = await ask("agentA", "POST", `${t.ingestUrl}/v1/events`, {
      events: [event(orgB, 1000), event(orgA, 7), event(undefined, 3)],
    });
    expect(mixed.status).toBe(202);
    expect(mixed.body.accepted).toBe(2);
    expect(mixed.body.rejected).toEqual([
      { index: 0, errors: [{ path: "org_id", message: `this API key is bound to org_id ${JSON.stringify(orgA)}` }] },
    ]);

    // The same by span attribute and by resource attribute (OTLP JSON): each span refused, A's own counted.
    const span = (attrs: Record<string, string | number>) => ({
      traceId: randomBytes(16).toString("hex"),
      spanId: randomBytes(8).toString("hex"),
      name: "chat gpt-4o",
      kind: 3,
      startTimeUnixNano: String(BigInt(Date.now() - 1_000) * 1_000_000n),
      endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
      attributes: Object.entries({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "user.id": user,
        ...attrs,
      }).map(([key, value]) =>
        typeof value === "number"
          ? { key, value: { intValue: String(value) } }
          : { key, value: { stringValue: value } },
      ),
    });
    const otlp = (resource: Record<string, string>, spans: unknown[]) => ({
      resourceSpans: [
        {
          resource: { attributes: Object.entries(resource).map(([key, v]) => ({ key, value: { stringValue: v } })) },
          scopeSpans: [{ scope: { name: "tenancy" }, spans }],
        },
      ],
    });
    const tokens = (n: number) => ({ "gen_ai.usage.input_tokens": n, "gen_ai.usage.output_tokens": 0 });
    const bySpan = await ask(
      "agentA",
      "POST",
      `${t.ingestUrl}/v1/traces`,
      otlp({}, [span({ ...tokens(2000), "tollgate.org.id": orgB }), span({ ...tokens(11), "tollgate.org.id": orgA })]),
    );
    expect(bySpan.status).toBe(200);
    expect(bySpan.body.partialSuccess.rejectedSpans).toBe("1");
    expect(bySpan.body.partialSuccess.errorMessage).toMatch(/org_id.*bound/);
    const byResource = await ask(
      "agentA",
      "POST",
      `${t.ingestUrl}/v1/traces`,
      otlp({ "tollgate.org.id": orgB }, [span(tokens(3000))]),
    );
    expect(byResource.status).toBe(200);
    expect(byResource.body.partialSuccess.rejectedSpans).toBe("1");

    // Who may report at all: agents and admins; an admin of B only into B.
    const own = {
      org_id: orgA,
      user_id: user,
      project_id: "tenancy",
      agent_id: "bot",
      model: "gpt-4o",
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    expect(await statuses((who) => ask(who, "POST", `${t.ingestUrl}/v1/events`, own))).toEqual({
      operator: 202,
      adminA: 202,
      adminB: 400,
      agentA: 202,
      viewerA: 403,
      none: 401,
    });
    expect(await statuses((who) => ask(who, "POST", `${t.ingestUrl}/v1/traces`, otlp({}, [])))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 200,
      agentA: 200,
      viewerA: 403,
      none: 401,
    });

    // A got 7 + 3 + 11; B got nothing.
    expect(await t.settle(async () => ((await usageOf(orgA)).tokens === 21 ? 21 : undefined), "A's usage")).toBe(21);
    expect(await usageOf(orgB)).toMatchObject({ tokens: 0, requests: 0 });
  });

  it("tenancy: usage and reports are read per org; the operator reads every org", async () => {
    const t = target();
    const usage = (org: string) => `${t.enforcementUrl}/v1/usage?user_id=${user}&org_id=${org}`;
    expect(await statuses((who) => ask(who, "GET", usage(orgA)))).toEqual({
      operator: 200,
      adminA: 200,
      adminB: 403,
      agentA: 200,
      viewerA: 200,
      none: 401,
    });
    // B's admin naming no org reads its own org: nothing of A's.
    const own = await ask("adminB", "GET", `${t.enforcementUrl}/v1/usage?user_id=${user}`);
    expect(own.body.totals.user.day.tokens).toBe(0);

    // One event of org B by B's own agent, so the operator has two orgs to list.
    const agentB = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: keys.adminB,
      json: { role: "agent", name: "reporter of B" },
    });
    const reported = await call("POST", `${t.ingestUrl}/v1/events`, {
      key: agentB.body.key,
      json: {
        user_id: user,
        project_id: "tenancy",
        agent_id: "bot",
        model: "gpt-4o",
        usage: { input_tokens: 5, output_tokens: 0 },
      },
    });
    expect(reported.status).toBe(202);

    const spend = (org?: string) =>
      `${t.reportsUrl}/v1/reports/spend?group_by=org&granularity=day&from=${from}&to=${to}&user_id=${user}${org ? `&org_id=${org}` : ""}`;
    expect(await statuses((who) => ask(who, "GET", spend(orgA)))).toEqual(readableInA(403));
    for (const report of ["top?by=user", "efficacy?", "unit-economics?"]) {
      const url = `${t.reportsUrl}/v1/reports/${report}&from=${from}&to=${to}&org_id=${orgA}`;
      expect(await statuses((who) => ask(who, "GET", url)), report).toEqual(readableInA(403));
    }
    const orgsIn = async (who: Who, org?: string) => {
      const reply = await ask(who, "GET", spend(org));
      expect(reply.status).toBe(200);
      // Summed over the rows' days: a run across midnight has two.
      const byOrg: Record<string, number> = {};
      for (const row of reply.body.rows as Array<{ org: string; total_tokens: number }>) {
        byOrg[row.org] = (byOrg[row.org] ?? 0) + row.total_tokens;
      }
      return byOrg;
    };
    const everyOrg = await t.settle(async () => {
      const seen = await orgsIn("operator");
      return seen[orgA] === 21 && seen[orgB] === 5 ? seen : undefined;
    }, "both orgs in the operator's report");
    expect(everyOrg).toEqual({ [orgA]: 21, [orgB]: 5 });
    expect(await orgsIn("adminA")).toEqual({ [orgA]: 21 });
    expect(await orgsIn("viewerA")).toEqual({ [orgA]: 21 });
    expect(await orgsIn("adminB")).toEqual({ [orgB]: 5 });
  });
}
