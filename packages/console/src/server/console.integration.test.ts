import { mkdtempSync, rmSync } from "node:fs";
import { request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authenticate, KeyStore, principalOf, requireRole } from "@tollgate/auth";
import { connectRedis, mastersOf, type RedisClient } from "@tollgate/counters";
import { migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisSessionStore } from "./redis-sessions";
import { createConsoleRouter } from "./router";
import { createMemorySessionStore, type SessionStore } from "./sessions";

/**
 * The console's sessions over HTTP, against a real KeyStore (chDB) and both
 * session stores (memory; Redis at REDIS_URL and the Redis Cluster at
 * REDIS_CLUSTER_URL, under a prefix of this run):
 * sign-in and its refusals, the cookie, the CSRF defences, both expiries
 * (a clock the test moves), sign-out and revocation, and the API routers
 * reached with the session's principal (role checks as on the API).
 */
const ADMIN = "console-test-bootstrap-admin-key-0123456789";
const IDLE_S = 60;
const ABSOLUTE_S = 600;
const dir = mkdtempSync(join(tmpdir(), "tollgate-console-"));
let store: SqlStore;
type RedisKind = "redis" | "redis cluster";
let clients: Record<RedisKind, RedisClient>;
/** KEYS asks one node: on a cluster, every master. */
const keysOf = async (redis: RedisClient, pattern: string) =>
  (await Promise.all((await mastersOf(redis)).map((node) => node.keys(pattern)))).flat();
const prefix = `tgtest${process.pid}${Date.now()}`;

beforeAll(async () => {
  store = await openChdbStore({ path: dir, database: "console_it" });
  await migrate(store);
  const clusterUrl = process.env.REDIS_CLUSTER_URL;
  if (!clusterUrl) throw new Error("REDIS_CLUSTER_URL is not set: run the tests through `pnpm test`");
  clients = {
    redis: connectRedis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379"),
    "redis cluster": connectRedis(clusterUrl),
  };
});
afterAll(async () => {
  for (const redis of Object.values(clients)) {
    // One DEL per key: session keys carry no hash tag, so a cluster spreads them over its slots.
    for (const key of await keysOf(redis, `${prefix}:*`)) await redis.del(key);
    redis.disconnect();
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each(["memory", "redis", "redis cluster"] as const)("console sessions (%s store)", (kind) => {
  let server: Server;
  let base: string;
  let keys: KeyStore;
  let now = Date.now();

  beforeAll(async () => {
    keys = new KeyStore(store, ADMIN);
    await keys.start();
    const sessions: SessionStore =
      kind === "memory" ? createMemorySessionStore() : createRedisSessionStore(clients[kind], prefix);
    // A stand-in for the API: the same authenticate/requireRole every route uses.
    const api = express.Router();
    api.get("/v1/whoami", authenticate(keys), requireRole("viewer"), (_req, res) => {
      res.json(principalOf(res));
    });
    api.post("/v1/admin-only", authenticate(keys), requireRole("admin"), (_req, res) => {
      res.json({ ok: true });
    });
    const app = express();
    app.use(
      createConsoleRouter({
        keys,
        sessions,
        api: [api],
        idleTimeoutSeconds: IDLE_S,
        absoluteTimeoutSeconds: ABSOLUTE_S,
        clock: () => now,
      }),
    );
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    keys.stop();
    server.close();
  });

  const signIn = async (key: string, headers: Record<string, string> = { origin: base }) => {
    const res = await fetch(`${base}/console/session`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ key }),
    });
    const cookie = res.headers.get("set-cookie") ?? "";
    const body = (await res.json()) as { csrf_token: string } & Record<string, unknown>;
    return { res, cookie, pair: cookie.split(";")[0] ?? "", body };
  };
  const get = (path: string, cookie: string) => fetch(`${base}${path}`, { headers: { cookie } });
  const post = (path: string, cookie: string, headers: Record<string, string>) =>
    fetch(`${base}${path}`, { method: "POST", headers: { cookie, ...headers } });

  it("exchanges an admin or viewer key for an opaque cookie, and refuses agent and unknown keys", async () => {
    const admin = await signIn(ADMIN);
    expect(admin.res.status).toBe(201);
    expect(admin.cookie).toMatch(
      /^tollgate_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=600$/,
    );
    expect(admin.cookie).not.toContain(ADMIN);
    expect(admin.body).toMatchObject({ role: "admin", key_id: "bootstrap-admin", org_id: null });
    const viewer = await keys.create({ role: "viewer", name: "v", default_tags: {}, org_id: "acme" });
    const signed = await signIn(viewer.key);
    expect(signed.res.status).toBe(201);
    const who = await (await get("/console/api/v1/whoami", signed.pair)).json();
    expect(who).toMatchObject({ role: "viewer", boundTags: { org_id: "acme" } });

    const agent = await keys.create({ role: "agent", name: "a", default_tags: {} });
    const refused = await signIn(agent.key);
    expect(refused.res.status).toBe(403);
    expect(refused.cookie).toBe("");
    expect((await signIn("tgk_0000000000000000_nope")).res.status).toBe(401);
  });

  it("refuses cross-site sign-in and unsafe requests without the right origin and CSRF token", async () => {
    expect((await signIn(ADMIN, { origin: "http://evil.example" })).res.status).toBe(403);
    expect((await signIn(ADMIN, { "sec-fetch-site": "cross-site" })).res.status).toBe(403);
    expect((await signIn(ADMIN, {})).res.status).toBe(403);
    const { pair, body } = await signIn(ADMIN);
    const token = body.csrf_token;
    expect((await post("/console/api/v1/admin-only", pair, { origin: base })).status).toBe(403);
    expect((await post("/console/api/v1/admin-only", pair, { origin: base, "x-csrf-token": "x" })).status).toBe(403);
    const wrongSite = { origin: "http://127.0.0.1:1", "x-csrf-token": token };
    expect((await post("/console/api/v1/admin-only", pair, wrongSite)).status).toBe(403);
    const sameSite = { "sec-fetch-site": "same-site", "x-csrf-token": token };
    expect((await post("/console/api/v1/admin-only", pair, sameSite)).status).toBe(403);
    expect((await post("/console/api/v1/admin-only", pair, { origin: base, "x-csrf-token": token })).status).toBe(200);
  });

  it("never lets a header key stand in for the session on the console's API", async () => {
    const res = await fetch(`${base}/console/api/v1/whoami`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(401);
  });

  it("ends a session after the idle timeout, and after the absolute one however busy", async () => {
    const idle = await signIn(ADMIN);
    now += (IDLE_S - 1) * 1000;
    expect((await get("/console/session", idle.pair)).status).toBe(200);
    now += (IDLE_S - 1) * 1000; // used a moment ago: still alive
    expect((await get("/console/session", idle.pair)).status).toBe(200);
    if (kind !== "memory") {
      // Redis's TTL is real time: the idle expiry is the key's, so move it instead of the clock.
      const redis = clients[kind];
      const [key] = await keysOf(redis, `${prefix}:v1:console-session:*`);
      expect(await redis.pttl(key as string)).toBeGreaterThan((IDLE_S - 5) * 1000);
      const live = await keysOf(redis, `${prefix}:v1:console-session:*`);
      for (const k of live) await redis.pexpire(k, 1);
      const deadline = Date.now() + 2_000;
      const anyLeft = async () => (await Promise.all(live.map((k) => redis.exists(k)))).some((n) => n > 0);
      while (await anyLeft()) expect(Date.now()).toBeLessThan(deadline);
    } else {
      now += (IDLE_S + 1) * 1000;
    }
    const expired = await get("/console/session", idle.pair);
    expect(expired.status).toBe(401);
    expect(expired.headers.get("set-cookie")).toMatch(/Max-Age=0/);

    const busy = await signIn(ADMIN);
    for (let t = 0; t < ABSOLUTE_S; t += IDLE_S / 2) {
      expect((await get("/console/session", busy.pair)).status).toBe(200);
      now += (IDLE_S / 2) * 1000;
    }
    expect((await get("/console/session", busy.pair)).status).toBe(401);
  });

  it("ends the session on sign-out and when its key is revoked", async () => {
    const { pair, body } = await signIn(ADMIN);
    const out = await fetch(`${base}/console/session`, {
      method: "DELETE",
      headers: { cookie: pair, origin: base, "x-csrf-token": body.csrf_token },
    });
    expect(out.status).toBe(204);
    expect((await get("/console/session", pair)).status).toBe(401);

    const viewer = await keys.create({ role: "viewer", name: "doomed", default_tags: {} });
    const signed = await signIn(viewer.key);
    expect((await get("/console/api/v1/whoami", signed.pair)).status).toBe(200);
    await keys.revoke(viewer.record.id);
    expect((await get("/console/api/v1/whoami", signed.pair)).status).toBe(401);
  });

  it("marks the cookie Secure with the __Host- prefix over HTTPS, and refuses plain HTTP off loopback", async () => {
    const https = await signIn(ADMIN, { "x-forwarded-proto": "https", origin: base.replace("http:", "https:") });
    expect(https.cookie).toMatch(
      /^__Host-tollgate_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=600; Secure$/,
    );
    // A LAN address over plain HTTP: a Secure cookie would be dropped, a plain one sniffable, so no session.
    const lan = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/console/session`, {
        method: "POST",
        headers: { "content-type": "application/json", host: "tollgate.example", origin: "http://tollgate.example" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end(JSON.stringify({ key: ADMIN }));
    });
    expect(lan).toBe(403);
  });

  it("serves the pages with a strict Content-Security-Policy", async () => {
    const page = await fetch(`${base}/console/budgets`);
    expect([200, 503]).toContain(page.status); // 503: the UI is not built (pnpm build builds it)
    if (page.status === 200) {
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    }
    expect(page.headers.get("x-frame-options")).toBe("DENY");
  });
});
