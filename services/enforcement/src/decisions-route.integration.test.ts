// GET /v1/decisions/recent against embedded Tollgate (the real service: its
// checks, its decision log, its keys): what each key may see of the checks
// that were denied or degraded. Each test isolates itself by fresh orgs (runId).
import { beforeAll, describe, expect, it } from "vitest";
import { embeddedForFile } from "../../../test/support/embedded-for-file";
import { runId } from "../../../test/support/engines";
import { call } from "../../../test/support/http";

const embedded = embeddedForFile();
const { url } = embedded;
const recent = (key: string, query = "") => call("GET", url(`/v1/decisions/recent${query}`), { key });
async function makeKey(body: Record<string, unknown>): Promise<string> {
  const reply = await call("POST", url("/v1/keys"), { key: embedded.stack().adminKey, json: body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body.key;
}
/** A budget of 10 tokens per user in `org`: any check of 100 tokens is denied (or degraded). */
async function tinyBudget(org: string, action: "block" | "degrade" = "block"): Promise<string> {
  const id = runId("tiny-");
  const body = {
    org_id: org,
    scope: { type: "user", id: "*" },
    metric: "tokens",
    window: { type: "calendar", unit: "day" },
    limit: 10,
    action,
    ...(action === "degrade" ? { degrade: { model_map: { "gpt-4o": "gpt-4o-mini" } } } : {}),
  };
  const put = await call("PUT", url(`/v1/budgets/${id}`), { key: embedded.stack().adminKey, json: body });
  expect(put.status, JSON.stringify(put.body)).toBe(201);
  return id;
}
async function check(org: string, user: string, expected: string) {
  const reply = await call("POST", url("/v1/check"), {
    key: embedded.stack().adminKey,
    json: { org_id: org, project_id: "p1", user_id: user, agent_id: "a1", model: "gpt-4o", input_tokens: 100 },
  });
  expect(reply.body.decision, JSON.stringify(reply.body)).toBe(expected);
}
const users = (body: { decisions: Array<{ user_id: string }> }) => body.decisions.map((d) => d.user_id).sort();

describe("GET /v1/decisions/recent", () => {
  const [orgA, orgB] = [runId("dA_"), runId("dB_")];
  const budgets = { a: "", b: "" };
  beforeAll(async () => {
    budgets.a = await tinyBudget(orgA);
    budgets.b = await tinyBudget(orgB, "degrade");
    await check(orgA, "ua1", "deny");
    await check(orgA, "ua2", "deny");
    await check(orgB, "ub1", "degrade");
  });

  it("shows an org admin its org's denials only, and refuses another org by name", async () => {
    const adminA = await makeKey({ role: "admin", name: "admin A", org_id: orgA });
    const mine = await recent(adminA);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(users(mine.body)).toEqual(["ua1", "ua2"]);
    expect(mine.body.decisions[0]).toMatchObject({
      decision: "deny",
      budget_id: budgets.a,
      org_id: orgA,
      project_id: "p1",
      user_id: "ua2",
      agent_id: "a1",
      model: "gpt-4o",
      degraded_to: null,
    });
    expect(mine.body.decisions[0].reason).toContain(budgets.a);
    expect((await recent(adminA, `?org_id=${orgB}`)).status).toBe(403);
    const adminB = await makeKey({ role: "viewer", name: "finance B", org_id: orgB });
    const theirs = await recent(adminB);
    expect(theirs.body.decisions).toEqual([
      expect.objectContaining({ decision: "degrade", user_id: "ub1", model: "gpt-4o", degraded_to: "gpt-4o-mini" }),
    ]);
  });

  it("shows a viewer bound to a user that user's only; refuses agent keys", async () => {
    const viewer = await makeKey({ role: "viewer", name: "ua1", org_id: orgA, bound_tags: { user_id: "ua1" } });
    expect(users((await recent(viewer)).body)).toEqual(["ua1"]);
    const agent = await makeKey({ role: "agent", name: "bot", default_tags: { org_id: orgA } });
    expect((await recent(agent)).status).toBe(403);
  });

  it("shows the operator every org, or the one it names; validates the query", async () => {
    const all = await recent(embedded.stack().adminKey, "?limit=500");
    expect(users(all.body)).toEqual(expect.arrayContaining(["ua1", "ua2", "ub1"]));
    expect(users((await recent(embedded.stack().adminKey, `?org_id=${orgB}`)).body)).toEqual(["ub1"]);
    expect((await recent(embedded.stack().adminKey, `?org_id=${orgA}&limit=1`)).body.decisions).toHaveLength(1);
    const bad = await recent(embedded.stack().adminKey, "?minutes=0&limit=x&colour=blue");
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["(root)", "limit", "minutes"]);
  });
});
