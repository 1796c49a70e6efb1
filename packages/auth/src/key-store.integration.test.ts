import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openChdbStore, type SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOOTSTRAP_ADMIN_ID, KeyStore } from "./key-store";
import { parseKey } from "./secrets";

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
  it("authenticates the bootstrap admin and created keys; stores only a hash", async () => {
    const keys = new KeyStore(store, ADMIN);
    await keys.start();
    try {
      expect(await keys.authenticate(ADMIN)).toEqual({ keyId: BOOTSTRAP_ADMIN_ID, role: "admin", defaultTags: {} });
      const { record, key } = await keys.create({ role: "agent", name: "bot", default_tags: { project_id: "p1" } });
      expect(await keys.authenticate(key)).toEqual({
        keyId: record.id,
        role: "agent",
        defaultTags: { project_id: "p1" },
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
