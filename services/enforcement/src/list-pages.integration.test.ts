// Pages of GET /v1/budgets and GET /v1/keys against embedded Tollgate (the
// real service, its chDB stores), filled through the bulk routes: every id
// once, in id order; an org's key pages through its org only; a bad `limit`
// or `after` is a 400 naming it. Each test isolates itself by fresh ids and
// orgs (runId).
import { describe, expect, it } from "vitest";
import { embeddedForFile } from "../../../test/support/embedded-for-file";
import { runId } from "../../../test/support/engines";
import { call } from "../../../test/support/http";

const embedded = embeddedForFile();
const { url } = embedded;
const def = { scope: { type: "user", id: "*" }, metric: "tokens", window: { type: "lifetime" }, limit: 10 };

async function makeKey(body: Record<string, unknown>): Promise<string> {
  const reply = await call("POST", url("/v1/keys"), { key: embedded.stack().adminKey, json: body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body.key;
}

/** Every page of `path` by `limit`: each page's ids and its next_after. */
async function pages(path: string, field: "budgets" | "keys", limit: number, key: string) {
  const seen: Array<{ ids: string[]; next: string | null }> = [];
  let after: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(after !== null ? { after } : {}) });
    const reply = await call("GET", url(`${path}?${query}`), { key });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    after = reply.body.next_after;
    seen.push({ ids: (reply.body[field] as Array<{ id: string }>).map((item) => item.id), next: after });
    expect(seen.length).toBeLessThan(1_000);
  } while (after !== null);
  return seen;
}

const inIdOrder = (ids: string[]) => [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** `path: message` of a 400's field errors. */
async function refusal(path: string, key = embedded.stack().adminKey) {
  const reply = await call("GET", url(path), { key });
  expect(reply.status, JSON.stringify(reply.body)).toBe(400);
  return (reply.body.errors as Array<{ path: string }>).map((e) => e.path);
}

describe("GET /v1/budgets in pages", () => {
  it("pages 2,500 budgets by 1,000: 3 pages, every id once, in id order; an org's key sees its org only", async () => {
    const [org, other] = [runId("porg_"), runId("pother_")];
    const prefix = runId("pg_");
    // Mixed case and punctuation: id order is by code unit ("B" < "_" < "a"), which localeCompare is not.
    const ids = Array.from({ length: 2_500 }, (_, i) => `${prefix}${["A", "b", "_", "-", "Z"][i % 5]}${i}`);
    for (let at = 0; at < ids.length; at += 1_000) {
      const upsert = ids.slice(at, at + 1_000).map((id) => ({ id, ...def, org_id: org }));
      const reply = await call("POST", url("/v1/budgets:batch"), { key: embedded.stack().adminKey, json: { upsert } });
      expect(reply.body).toMatchObject({ accepted: upsert.length, rejected: [] });
    }
    const theirs = [runId("pt_"), runId("pt_")];
    const put = await call("POST", url("/v1/budgets:batch"), {
      key: embedded.stack().adminKey,
      json: { upsert: theirs.map((id) => ({ id, ...def, org_id: other })) },
    });
    expect(put.body.accepted).toBe(2);

    const viewer = await makeKey({ role: "viewer", name: "pages", org_id: org });
    const seen = await pages("/v1/budgets", "budgets", 1_000, viewer);
    expect(seen.map((p) => p.ids.length)).toEqual([1_000, 1_000, 500]);
    expect(seen.map((p) => p.next)).toEqual([seen[0]?.ids.at(-1), seen[1]?.ids.at(-1), null]);
    expect(seen.flatMap((p) => p.ids)).toEqual(inIdOrder(ids));

    // The operator pages through every org's, the same ids among them, each once and in order.
    const all = (await pages("/v1/budgets", "budgets", 700, embedded.stack().adminKey)).flatMap((p) => p.ids);
    expect(all).toEqual(inIdOrder(all));
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((id) => id.startsWith(prefix))).toEqual(inIdOrder(ids));
    for (const id of theirs) expect(all).toContain(id);

    // Without limit: everything at once, as before pages (the same order), and `after` alone starts later.
    const whole = await call("GET", url("/v1/budgets"), { key: viewer });
    expect(whole.body.next_after).toBeNull();
    expect(whole.body.budgets.map((b: { id: string }) => b.id)).toEqual(inIdOrder(ids));
    const [, second] = inIdOrder(ids);
    const rest = await call("GET", url(`/v1/budgets?after=${encodeURIComponent(second as string)}&limit=5000`), {
      key: viewer,
    });
    expect(rest.body).toMatchObject({ next_after: null });
    expect(rest.body.budgets).toHaveLength(2_498);

    // A page reflects a change at once: a deleted budget is gone from it, a new one is in.
    const [first] = inIdOrder(ids);
    const late = `${prefix}0late`;
    const change = await call("POST", url("/v1/budgets:batch"), {
      key: embedded.stack().adminKey,
      json: { upsert: [{ id: late, ...def, org_id: org }], delete: [first] },
    });
    expect(change.body.accepted).toBe(2);
    const head = await call("GET", url("/v1/budgets?limit=3"), { key: viewer });
    expect(head.body.budgets.map((b: { id: string }) => b.id)).toEqual(
      inIdOrder([...ids.filter((id) => id !== first), late]).slice(0, 3),
    );
  }, 120_000);

  it("refuses a bad limit or after with 400 naming the parameter", async () => {
    expect(await refusal("/v1/budgets?limit=0")).toEqual(["limit"]);
    expect(await refusal("/v1/budgets?limit=5001")).toEqual(["limit"]);
    expect(await refusal("/v1/budgets?limit=ten")).toEqual(["limit"]);
    expect(await refusal("/v1/budgets?limit=1.5")).toEqual(["limit"]);
    expect(await refusal("/v1/budgets?limit=1&limit=2")).toEqual(["limit"]);
    expect(await refusal("/v1/budgets?after=")).toEqual(["after"]);
    expect(await refusal("/v1/budgets?after=not%20an%20id&limit=2")).toEqual(["after"]);
    expect(await refusal(`/v1/budgets?after=${"x".repeat(129)}`)).toEqual(["after"]);
    expect((await refusal("/v1/budgets?limit=-1&after=%2F")).sort()).toEqual(["after", "limit"]);
    // The largest page is taken; an after past every id is an empty last page.
    const last = await call("GET", url("/v1/budgets?limit=5000&after=zzzz"), { key: embedded.stack().adminKey });
    expect(last.body).toEqual({ budgets: [], next_after: null });
  });
});

describe("GET /v1/keys in pages", () => {
  it("pages 2,500 keys by 1,000: 3 pages of the org's keys, every id once, in id order", async () => {
    const org = runId("korg_");
    const made: string[] = [];
    for (let at = 0; at < 2_500; at += 1_000) {
      const create = Array.from({ length: Math.min(1_000, 2_500 - at) }, (_, i) => ({
        role: "agent",
        name: `paged ${at + i}`,
        org_id: org,
      }));
      const reply = await call("POST", url("/v1/keys:batch"), { key: embedded.stack().adminKey, json: { create } });
      expect(reply.body).toMatchObject({ accepted: create.length, rejected: [] });
      made.push(...reply.body.created.map((k: { id: string }) => k.id));
    }
    // The org's admin key is one of its org's keys too.
    const admin = await makeKey({ role: "admin", name: "org admin", org_id: org });
    const adminId = (await call("GET", url("/v1/keys"), { key: admin })).body.keys.find(
      (k: { name: string }) => k.name === "org admin",
    ).id;
    const seen = await pages("/v1/keys", "keys", 1_000, admin);
    expect(seen.map((p) => p.ids.length)).toEqual([1_000, 1_000, 501]);
    expect(seen.flatMap((p) => p.ids)).toEqual(inIdOrder([...made, adminId]));

    // Another org's keys, and the operator's, are not in it; the operator's pages hold them all.
    const elsewhere = await makeKey({ role: "viewer", name: "elsewhere", org_id: runId("kother_") });
    expect(elsewhere).toBeTruthy();
    expect((await pages("/v1/keys", "keys", 5_000, admin)).flatMap((p) => p.ids)).toHaveLength(2_501);
    const all = (await pages("/v1/keys", "keys", 1_000, embedded.stack().adminKey)).flatMap((p) => p.ids);
    expect(all).toEqual(inIdOrder(all));
    expect(all.length).toBeGreaterThanOrEqual(2_502);
    expect(all.filter((id) => made.includes(id))).toEqual(inIdOrder(made));

    // A revoked key leaves the next page at once; the secret is never listed.
    const [first] = inIdOrder(made);
    expect((await call("DELETE", url(`/v1/keys/${first}`), { key: admin })).status).toBe(204);
    const head = await call("GET", url("/v1/keys?limit=2"), { key: admin });
    expect(head.body.keys.map((k: { id: string }) => k.id)).toEqual(
      inIdOrder([...made, adminId].filter((id) => id !== first)).slice(0, 2),
    );
    expect(JSON.stringify(head.body)).not.toContain("tgk_");
  }, 120_000);

  it("refuses a bad limit or after with 400 naming the parameter", async () => {
    expect(await refusal("/v1/keys?limit=0")).toEqual(["limit"]);
    expect(await refusal("/v1/keys?limit=5001")).toEqual(["limit"]);
    expect(await refusal("/v1/keys?limit=")).toEqual(["limit"]);
    expect(await refusal("/v1/keys?after=tgk_0123")).toEqual(["after"]);
    expect(await refusal("/v1/keys?after=0123456789ABCDEF&limit=1")).toEqual(["after"]);
    const last = await call("GET", url("/v1/keys?limit=1&after=ffffffffffffffff"), { key: embedded.stack().adminKey });
    expect(last.body).toEqual({ keys: [], next_after: null });
  });
});
