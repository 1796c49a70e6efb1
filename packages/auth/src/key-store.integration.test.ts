import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdingNextRead } from "../../../test/support/held-reads";
import { BOOTSTRAP_ADMIN_ID, KeyStore } from "./key-store";
import { generateKey, parseKey } from "./secrets";

const ADMIN = "bootstrap-admin-key-of-at-least-24-chars";
const dir = mkdtempSync(join(tmpdir(), "tollgate-keys-"));
let store: SqlStore;

beforeAll(async () => {
  store = await openChdbStore({ path: dir, database: "keys_it" });
  await migrate(store);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("KeyStore", () => {
  it("keeps its own writes across a refresh that read before them: a new key listed, a revoked one refused", async () => {
    const slow = holdingNextRead(store);
    const keys = new KeyStore(slow.store, ADMIN, { refreshMs: 3_600_000 });
    await keys.start();
    try {
      const old = await keys.create({ role: "viewer", name: "old", default_tags: {} });
      slow.hold();
      const refreshing = keys.refresh(); // reads now: neither of the two writes below
      const made = await keys.create({ role: "viewer", name: "during a refresh", default_tags: {} });
      expect(await keys.revoke(old.record.id)).toBe(true);
      slow.letGo();
      await refreshing;
      expect(keys.list().map((k) => k.id)).toContain(made.record.id);
      expect(await keys.authenticate(made.key)).not.toBeNull();
      expect(keys.list().map((k) => k.id)).not.toContain(old.record.id);
      expect(await keys.authenticate(old.key)).toBeNull();
    } finally {
      keys.stop();
    }
  });

  it("authenticates the bootstrap admin and created keys; stores only a hash", async () => {
    const keys = new KeyStore(store, ADMIN);
    await keys.start();
    try {
      expect(await keys.authenticate(ADMIN)).toEqual({
        keyId: BOOTSTRAP_ADMIN_ID,
        role: "admin",
        defaultTags: {},
        boundTags: {},
      });
      const { record, key } = await keys.create({ role: "agent", name: "bot", default_tags: { project_id: "p1" } });
      expect(await keys.authenticate(key)).toEqual({
        keyId: record.id,
        role: "agent",
        defaultTags: { project_id: "p1" },
        boundTags: {},
      });

      const rows = await store.query<Record<string, string>>("SELECT * FROM api_keys");
      const secret = parseKey(key)?.secret as string;
      expect(JSON.stringify(rows)).not.toContain(secret);

      // A wrong secret for a real id, a malformed key, an empty one.
      expect(await keys.authenticate(`tgk_${record.id}_${"A".repeat(43)}`)).toBeNull();
      expect(await keys.authenticate("tgk_nothex")).toBeNull();
      expect(await keys.authenticate("")).toBeNull();
      expect(await keys.authenticate(`${ADMIN}x`)).toBeNull();
    } finally {
      keys.stop();
    }
  });

  it("sees a key created by another instance at once, and a revocation after a refresh", async () => {
    const enforcement = new KeyStore(store, ADMIN, { refreshMs: 60_000 });
    const ingest = new KeyStore(store, ADMIN, { refreshMs: 60_000 });
    await enforcement.start();
    await ingest.start();
    try {
      const { record, key } = await enforcement.create({ role: "viewer", name: "finance", default_tags: {} });
      // Not in ingest's cache yet: found by the one-off lookup of an unknown id.
      expect((await ingest.authenticate(key))?.role).toBe("viewer");

      expect(await enforcement.revoke(record.id)).toBe(true);
      expect(await enforcement.authenticate(key)).toBeNull();
      expect(await enforcement.revoke(record.id)).toBe(false);
      await ingest.refresh();
      expect(await ingest.authenticate(key)).toBeNull();
      expect(ingest.list().map((k) => k.id)).not.toContain(record.id);
    } finally {
      enforcement.stop();
      ingest.stop();
    }
  });

  it("binds a key to its org and tags, also when only a default tag names the org, across instances", async () => {
    const one = new KeyStore(store, ADMIN, { refreshMs: 60_000 });
    await one.start();
    try {
      const explicit = await one.create({
        role: "agent",
        name: "bound",
        org_id: "acme",
        bound_tags: { project_id: "p1" },
        default_tags: { agent_id: "a1" },
      });
      expect(explicit.record).toMatchObject({ org_id: "acme", bound_tags: { project_id: "p1" } });
      // A key stored before bindings existed: its org only in default_tags, the new columns at their defaults.
      const legacy = generateKey();
      await store.insert("api_keys", [
        {
          id: legacy.id,
          secret_sha256: legacy.secretSha256,
          role: "viewer",
          name: "legacy",
          default_tags: JSON.stringify({ org_id: "beta" }),
          created_at: 1_700_000_000,
          revoked: 0,
          version: 1,
        },
      ]);

      const other = new KeyStore(store, ADMIN, { refreshMs: 60_000 });
      await other.start();
      try {
        expect((await other.authenticate(explicit.key))?.boundTags).toEqual({ project_id: "p1", org_id: "acme" });
        expect((await other.authenticate(explicit.key))?.defaultTags).toEqual({ agent_id: "a1" });
        expect((await other.authenticate(legacy.key))?.boundTags).toEqual({ org_id: "beta" });
        expect(other.list("acme").map((k) => k.id)).toEqual([explicit.record.id]);
        expect(other.list().map((k) => k.id)).toEqual(expect.arrayContaining([explicit.record.id, legacy.id]));
      } finally {
        other.stop();
      }
    } finally {
      one.stop();
    }
  });

  it("admits a burst of requests with a key made a moment ago on another instance (one shared lookup)", async () => {
    const maker = new KeyStore(store, ADMIN, { refreshMs: 60_000 });
    const reader = new KeyStore(store, ADMIN, { refreshMs: 60_000, maxConcurrentMisses: 2 });
    await maker.start();
    await reader.start();
    try {
      const { key } = await maker.create({ role: "agent", name: "burst", default_tags: {} });
      const principals = await Promise.all(Array.from({ length: 25 }, () => reader.authenticate(key)));
      expect(principals.every((p) => p?.role === "agent")).toBe(true);
    } finally {
      maker.stop();
      reader.stop();
    }
  });

  it("keys survive a restart (they live in the table, not in memory)", async () => {
    const first = new KeyStore(store, ADMIN);
    await first.start();
    const { key } = await first.create({ role: "agent", name: "durable", default_tags: {} });
    first.stop();
    const second = new KeyStore(store, ADMIN);
    await second.start();
    try {
      expect((await second.authenticate(key))?.role).toBe("agent");
      expect(second.list().some((k) => k.name === "durable")).toBe(true);
    } finally {
      second.stop();
    }
  });
});
