// The bulk routes against embedded Tollgate (the real service, its chDB
// stores): POST /v1/budgets:batch and POST /v1/keys:batch decide each item
// as their single routes do, write the valid ones together and name each
// refused one with its field errors. Each test isolates itself by fresh ids
// and orgs (runId).
import { describe, expect, it } from "vitest";
import { embeddedForFile } from "../../../test/support/embedded-for-file";
import { runId } from "../../../test/support/engines";
import { call, type Reply } from "../../../test/support/http";

const embedded = embeddedForFile();
const { url } = embedded;
const budgetBatch = (json: unknown, key = embedded.stack().adminKey) =>
  call("POST", url("/v1/budgets:batch"), { key, json });
const keyBatch = (json: unknown, key = embedded.stack().adminKey) => call("POST", url("/v1/keys:batch"), { key, json });
const def = (limit = 10) => ({
  scope: { type: "user", id: "*" },
  metric: "tokens",
  window: { type: "lifetime" },
  limit,
});
const getBudget = (id: string, key = embedded.stack().adminKey) => call("GET", url(`/v1/budgets/${id}`), { key });

async function makeKey(
  body: Record<string, unknown>,
  key = embedded.stack().adminKey,
): Promise<{ id: string; key: string }> {
  const reply = await call("POST", url("/v1/keys"), { key, json: body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
}

/** `[op index id status error]` of each rejection, and the paths of its field errors. */
const rejections = (reply: Reply) =>
  (reply.body.rejected as Array<Record<string, unknown>>).map((r) => ({
    at: `${r.op}[${r.index}]`,
    id: r.id,
    status: r.status,
    error: r.error,
    paths: (r.errors as Array<{ path: string }>).map((e) => e.path),
  }));

describe("POST /v1/budgets:batch", () => {
  it("writes the valid items in one go and names each invalid one with its field; GET sees the result", async () => {
    const [a, b, c, gone, absent] = [runId("a_"), runId("b_"), runId("c_"), runId("gone_"), runId("absent_")];
    expect(
      (await call("PUT", url(`/v1/budgets/${gone}`), { key: embedded.stack().adminKey, json: def() })).status,
    ).toBe(201);
    const reply = await budgetBatch({
      upsert: [
        { id: a, ...def(100) },
        { id: b, ...def(), metric: "tokenz" },
        { id: "not an id!", ...def() },
        { id: c, ...def(), limit: -1, window: { type: "rolling", seconds: 1 } },
        5,
        { ...def() },
        { id: runId("d_"), ...def(), colour: "blue" },
      ],
      delete: [gone, absent, 7],
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toMatchObject({ accepted: 2, deleted: [gone] });
    expect(reply.body.upserted).toEqual([expect.objectContaining({ id: a, limit: 100, org_id: null })]);
    expect(rejections(reply)).toEqual([
      { at: "upsert[1]", id: b, status: 400, error: "invalid_budget", paths: ["metric"] },
      { at: "upsert[2]", id: "not an id!", status: 400, error: "invalid_request", paths: ["id"] },
      { at: "upsert[3]", id: c, status: 400, error: "invalid_budget", paths: ["window.seconds", "limit"] },
      { at: "upsert[4]", id: undefined, status: 400, error: "invalid_request", paths: ["(root)"] },
      { at: "upsert[5]", id: undefined, status: 400, error: "invalid_request", paths: ["id"] },
      { at: "upsert[6]", id: expect.any(String), status: 400, error: "invalid_budget", paths: ["(root)"] },
      { at: "delete[1]", id: absent, status: 404, error: "not_found", paths: ["id"] },
      { at: "delete[2]", id: undefined, status: 400, error: "invalid_request", paths: ["id"] },
    ]);
    // Each rejection reads on its own: the message names the fields.
    expect(reply.body.rejected[0].message).toMatch(/^metric: must be one of/);

    expect((await getBudget(a)).body).toEqual(reply.body.upserted[0]);
    expect((await getBudget(b)).status).toBe(404);
    expect((await getBudget(c)).status).toBe(404);
    expect((await getBudget(gone)).status).toBe(404);
  });

  it("replaces existing budgets with one new version for the batch", async () => {
    const ids = [runId("v1_"), runId("v2_")];
    const first = await budgetBatch({ upsert: ids.map((id) => ({ id, ...def(1) })) });
    expect(first.status).toBe(200);
    const again = await budgetBatch({ upsert: ids.map((id) => ({ id, ...def(2), soft_limit_pct: 50 })) });
    expect(again.status).toBe(200);
    const versions = new Set(again.body.upserted.map((b: { version: number }) => b.version));
    expect(versions.size).toBe(1);
    expect([...versions][0]).toBeGreaterThan(first.body.upserted[0].version);
    for (const id of ids) expect((await getBudget(id)).body).toMatchObject({ limit: 2, soft_limit_pct: 50 });
  });

  it("answers 400 with the same reply when no item went through, and refuses a body that is no batch", async () => {
    const id = runId("none_");
    const none = await budgetBatch({ upsert: [{ id, ...def(), metric: "tokenz" }] });
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ accepted: 0, upserted: [], deleted: [] });
    expect(rejections(none)).toEqual([
      { at: "upsert[0]", id, status: 400, error: "invalid_budget", paths: ["metric"] },
    ]);

    const notBatch = await budgetBatch({ upsert: {}, remove: [] });
    expect(notBatch.status).toBe(400);
    expect(notBatch.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["(root)", "upsert"]);
    expect((await budgetBatch({})).body.errors).toEqual([
      { path: "(root)", message: expect.stringMatching(/at least one/) },
    ]);
    expect((await budgetBatch([])).status).toBe(400);
  });

  it("refuses every item of an id named twice, and writes the rest", async () => {
    const [twice, once] = [runId("twice_"), runId("once_")];
    const reply = await budgetBatch({
      upsert: [
        { id: twice, ...def() },
        { id: once, ...def() },
      ],
      delete: [twice],
    });
    expect(reply.status).toBe(200);
    expect(reply.body.upserted.map((b: { id: string }) => b.id)).toEqual([once]);
    expect(rejections(reply).map((r) => `${r.at} ${r.status} ${r.paths}`)).toEqual([
      "upsert[0] 400 id",
      "delete[0] 400 id",
    ]);
    expect((await getBudget(twice)).status).toBe(404);
  });

  it("takes 1,000 items, refuses 1,001 with 413 before writing any", async () => {
    const prefix = runId("cap_");
    const items = Array.from({ length: 1_000 }, (_, i) => ({ id: `${prefix}${i}`, ...def(i + 1) }));
    const full = await budgetBatch({ upsert: items });
    expect(full.status).toBe(200);
    expect(full.body.accepted).toBe(1_000);
    expect((await getBudget(`${prefix}999`)).body.limit).toBe(1_000);

    const over = await budgetBatch({ upsert: items.slice(0, 500), delete: items.slice(0, 501).map((b) => `x${b.id}`) });
    expect(over.status).toBe(413);
    expect(over.body).toMatchObject({ error: "batch_too_large", message: expect.stringMatching(/at most 1000/) });

    const deleted = await budgetBatch({ delete: items.map((b) => b.id) });
    expect(deleted.body).toMatchObject({ accepted: 1_000, rejected: [] });
    expect((await getBudget(`${prefix}0`)).status).toBe(404);
  });

  it("is its own route: not a budget id under /v1/budgets/:id, nor a parameter", async () => {
    // A budget id may hold ':' — PUT of "x:batch" is a budget like any other.
    const id = `${runId("colon_")}:batch`;
    expect((await call("PUT", url(`/v1/budgets/${id}`), { key: embedded.stack().adminKey, json: def() })).status).toBe(
      201,
    );
    expect((await getBudget(id)).body.id).toBe(id);
    expect(
      (await call("POST", url("/v1/budgetsbatch"), { key: embedded.stack().adminKey, json: { delete: [id] } })).status,
    ).toBe(404);
    expect((await call("GET", url("/v1/budgets:batch"), { key: embedded.stack().adminKey })).status).toBe(404);
    expect((await budgetBatch({ delete: [id] })).body).toMatchObject({ accepted: 1, deleted: [id] });
  });

  it("keeps an org admin to its org, item by item: its own go through", async () => {
    const [orgA, orgB] = [runId("orgA_"), runId("orgB_")];
    const adminA = (await makeKey({ role: "admin", name: "a", org_id: orgA })).key;
    const [ofB, mine, foreignOrg, takenId] = [runId("ofB_"), runId("mine_"), runId("foreign_"), runId("taken_")];
    const putB = await budgetBatch({ upsert: [{ id: ofB, ...def(), org_id: orgB }] });
    expect(putB.body.upserted[0].org_id).toBe(orgB);

    const reply = await budgetBatch(
      {
        upsert: [
          { id: mine, ...def() },
          { id: foreignOrg, ...def(), org_id: orgB },
          { id: ofB, ...def(99) },
        ],
        delete: [ofB],
      },
      adminA,
    );
    expect(reply.status).toBe(200);
    expect(reply.body.upserted).toEqual([expect.objectContaining({ id: mine, org_id: orgA })]);
    expect(rejections(reply)).toEqual([
      { at: "upsert[1]", id: foreignOrg, status: 403, error: "forbidden", paths: ["org_id"] },
      { at: "upsert[2]", id: ofB, status: 400, error: "invalid_request", paths: ["id"] },
      { at: "delete[0]", id: ofB, status: 400, error: "invalid_request", paths: ["id"] },
    ]);
    // Named once, B's budget is taken (409) to A's admin, and cannot be deleted by it (404, as if missing).
    const taken = await budgetBatch(
      {
        upsert: [
          { id: ofB, ...def(99) },
          { id: takenId, ...def() },
        ],
      },
      adminA,
    );
    expect(rejections(taken)).toEqual([{ at: "upsert[0]", id: ofB, status: 409, error: "conflict", paths: ["id"] }]);
    const notMine = await budgetBatch({ delete: [ofB] }, adminA);
    expect(notMine.status).toBe(400);
    expect(rejections(notMine)).toEqual([{ at: "delete[0]", id: ofB, status: 404, error: "not_found", paths: ["id"] }]);
    expect((await getBudget(ofB)).body).toMatchObject({ org_id: orgB, limit: 10 });
    expect((await getBudget(foreignOrg)).status).toBe(404);
  });

  it("refuses text that is not well-formed Unicode in an item, naming the field, and a body that is not JSON or not UTF-8 (400, never a 5xx)", async () => {
    const good = runId("utf_");
    const reply = await budgetBatch({
      upsert: [
        { id: good, ...def() },
        { id: runId("bad_"), ...def(), scope: { type: "user", id: "\ud800" } },
      ],
    });
    expect(reply.status).toBe(200);
    expect(rejections(reply).map((r) => `${r.at} ${r.status} ${r.paths}`)).toEqual(["upsert[1] 400 scope.id"]);
    const keys = await keyBatch({ create: [{ role: "agent", name: "\udc00 lone" }] });
    expect(keys.status).toBe(400);
    expect(rejections(keys).map((r) => `${r.at} ${r.status} ${r.paths}`)).toEqual(["create[0] 400 name"]);
    // Not JSON, or not UTF-8: refused whole, never a 5xx.
    const broken = await call("POST", url("/v1/budgets:batch"), {
      key: embedded.stack().adminKey,
      raw: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x5b, 0x5d, 0x7d]),
      contentType: "application/json",
    });
    expect(broken.status).toBe(400);
    expect(
      (
        await call("POST", url("/v1/keys:batch"), {
          key: embedded.stack().adminKey,
          raw: "{",
          contentType: "application/json",
        })
      ).status,
    ).toBe(400);
  });

  it("refuses viewer and agent keys (403) and requests without a key (401)", async () => {
    const viewer = (await makeKey({ role: "viewer", name: "v" })).key;
    const agent = (await makeKey({ role: "agent", name: "a" })).key;
    const id = runId("role_");
    expect((await budgetBatch({ upsert: [{ id, ...def() }] }, viewer)).status).toBe(403);
    expect((await budgetBatch({ upsert: [{ id, ...def() }] }, agent)).status).toBe(403);
    expect((await call("POST", url("/v1/budgets:batch"), { json: { upsert: [{ id, ...def() }] } })).status).toBe(401);
    expect((await getBudget(id)).status).toBe(404);
  });
});

describe("POST /v1/keys:batch", () => {
  it("creates the valid keys, each with its secret once, and names each invalid item with its field", async () => {
    const org = runId("korg_");
    const reply = await keyBatch({
      create: [
        { role: "agent", name: "one", default_tags: { project_id: "p1" } },
        { role: "boss", name: "bad role" },
        { role: "viewer", name: "two", org_id: org },
        { role: "agent", name: "x", org_id: org, default_tags: { org_id: "other" } },
        "key",
      ],
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.accepted).toBe(2);
    expect(reply.body.created).toEqual([
      expect.objectContaining({ index: 0, role: "agent", name: "one", key: expect.stringMatching(/^tgk_/) }),
      expect.objectContaining({ index: 2, role: "viewer", org_id: org, key: expect.any(String) }),
    ]);
    expect(rejections(reply)).toEqual([
      { at: "create[1]", id: undefined, status: 400, error: "invalid_request", paths: ["role"] },
      { at: "create[3]", id: undefined, status: 400, error: "invalid_request", paths: ["default_tags.org_id"] },
      { at: "create[4]", id: undefined, status: 400, error: "invalid_request", paths: ["(root)"] },
    ]);
    const listed = (await call("GET", url("/v1/keys"), { key: embedded.stack().adminKey })).body.keys.map(
      (k: { id: string }) => k.id,
    );
    for (const made of reply.body.created) expect(listed).toContain(made.id);
    // The secret is never listed again.
    expect(JSON.stringify((await call("GET", url("/v1/keys"), { key: embedded.stack().adminKey })).body)).not.toContain(
      reply.body.created[0].key,
    );
    const none = await keyBatch({ create: [{ role: "boss", name: "x" }] });
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ accepted: 0, created: [] });
  });

  it("binds an org admin's keys to its org and refuses another org per item", async () => {
    const [orgA, orgB] = [runId("kA_"), runId("kB_")];
    const adminA = (await makeKey({ role: "admin", name: "a", org_id: orgA })).key;
    const reply = await keyBatch(
      {
        create: [
          { role: "agent", name: "mine" },
          { role: "agent", name: "theirs", org_id: orgB },
        ],
      },
      adminA,
    );
    expect(reply.status).toBe(200);
    expect(reply.body.created).toEqual([expect.objectContaining({ index: 0, org_id: orgA })]);
    expect(rejections(reply)).toEqual([
      { at: "create[1]", id: undefined, status: 403, error: "forbidden", paths: ["org_id"] },
    ]);
  });

  it("refuses viewer and agent keys, a body that is no batch, and 1,001 keys", async () => {
    const viewer = (await makeKey({ role: "viewer", name: "v" })).key;
    const agent = (await makeKey({ role: "agent", name: "a" })).key;
    const one = { create: [{ role: "agent", name: "x" }] };
    expect((await keyBatch(one, viewer)).status).toBe(403);
    expect((await keyBatch(one, agent)).status).toBe(403);
    expect((await call("POST", url("/v1/keys:batch"), { json: one })).status).toBe(401);
    expect((await keyBatch({ create: [], revoke: ["x"] })).status).toBe(400);
    const over = await keyBatch({
      create: Array.from({ length: 1_001 }, (_, i) => ({ role: "agent", name: `k${i}` })),
    });
    expect(over.status).toBe(413);
  });

  it("makes 2,000 keys in two requests, every one of them good to authenticate", async () => {
    const org = runId("many_");
    const batch = (from: number) => ({
      create: Array.from({ length: 1_000 }, (_, i) => ({ role: "viewer", name: `bulk ${from + i}`, org_id: org })),
    });
    const replies = [await keyBatch(batch(0)), await keyBatch(batch(1_000))];
    for (const reply of replies) expect(reply.body).toMatchObject({ accepted: 1_000, rejected: [] });
    const secrets = replies.flatMap((r) => r.body.created.map((k: { key: string }) => k.key)) as string[];
    expect(new Set(secrets).size).toBe(2_000);

    const statuses = new Map<number, number>();
    for (let at = 0; at < secrets.length; at += 50) {
      const chunk = secrets.slice(at, at + 50);
      for (const reply of await Promise.all(chunk.map((key) => call("GET", url("/v1/budgets"), { key })))) {
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 2_000 });
  }, 180_000);
});
