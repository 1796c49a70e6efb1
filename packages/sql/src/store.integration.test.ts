import { sampleUsageEvent } from "@tollgate/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlEngines } from "../../../test/support/engines";
import { loadMigrations, migrate } from "./migrate";
import type { SqlStore } from "./store";
import {
  insertUsageEventLines,
  insertUsageEvents,
  storedEventIds,
  usageEventLine,
  usageEventsSince,
} from "./tables/usage-events";

const { engines, cleanup } = sqlEngines("tg_it_");
afterAll(cleanup);

describe.each(engines)("%s", (_name, open) => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.command(`DROP DATABASE IF EXISTS ${store.database}`);
    await store.close();
  });

  it("applies the migrations from empty, then again as a no-op", async () => {
    const all = loadMigrations().map((m) => m.name);
    expect(await migrate(store)).toEqual({ applied: all, skipped: [] });
    expect(await migrate(store)).toEqual({ applied: [], skipped: all });
    const tables = (
      await store.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase()")
    ).map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(["usage_events", "dead_letters", "api_keys", "schema_migrations"]));
  });

  it("re-runs a migration that added columns but was not recorded (a crash in between)", async () => {
    const migration = loadMigrations().find((m) => m.name === "010_add_api_key_bindings");
    expect(migration).toBeDefined();
    // As after a crash between its statements and its record: the columns exist, the record does not.
    expect(await migrate(store, [migration as NonNullable<typeof migration>])).toEqual({
      applied: [],
      skipped: ["010_add_api_key_bindings"],
    });
    await store.command(`CREATE TABLE tg_alter_probe (id String) ENGINE = MergeTree ORDER BY id`);
    const probe = {
      version: 999,
      name: "999_add_probe_column",
      checksum: "x",
      statements: [{ sql: "ALTER TABLE tg_alter_probe ADD COLUMN extra String DEFAULT ''", requiresVersion: null }],
    };
    expect((await migrate(store, [probe])).applied).toEqual(["999_add_probe_column"]);
    // The same statement under a version not yet recorded: the column exists, the re-run must not fail.
    expect((await migrate(store, [{ ...probe, version: 998 }])).applied).toEqual(["999_add_probe_column"]);
    const columns = await store.query<{ name: string }>(
      "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'tg_alter_probe'",
    );
    expect(columns.map((c) => c.name)).toEqual(["id", "extra"]);
  });

  it("stores events exactly, collapses duplicates by event_id, and pages them back", async () => {
    const ts = Date.parse("2026-11-22T10:00:00.123Z");
    const events = Array.from({ length: 7 }, (_, i) =>
      sampleUsageEvent({
        event_id: `e${i}`,
        timestamp_ms: ts + i,
        user_id: `u${i % 3}`,
        cost_micro_usd: 9_007_199_254_740 + i,
      }),
    );
    await insertUsageEvents(store, events);
    await insertUsageEvents(store, events.slice(0, 3)); // a replayed batch
    const [count] = await store.query<{ n: number; cost: number }>(
      "SELECT count() AS n, sum(cost_micro_usd) AS cost FROM usage_events FINAL",
    );
    expect(Number(count?.n)).toBe(7);
    expect(Number(count?.cost)).toBe(7 * 9_007_199_254_740 + 21);

    const pages: string[][] = [];
    for await (const page of usageEventsSince(store, ts - 1000, 3)) pages.push(page.map((e) => e.event_id));
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat().sort()).toEqual(events.map((e) => e.event_id).sort());
    const [back] = await collect(usageEventsSince(store, ts - 1000, 100));
    expect(back?.find((e) => e.event_id === "e4")).toEqual(events[4]);
  });

  it("binds hostile strings as data", async () => {
    const hostile = [
      "'; DROP TABLE usage_events; --",
      "back\\slash",
      "quote'",
      "\\'",
      "new\nline",
      "nul\0byte",
      "ünïcødé 🚀",
    ];
    for (const value of hostile) {
      const rows = await store.query<{ v: string }>("SELECT {v:String} AS v", { v: value });
      expect(rows[0]?.v).toBe(value);
    }
    expect((await store.query("SELECT count() AS n FROM usage_events")).length).toBe(1);
  });

  it("looks up lists of hostile strings as data, and finds stored ids among them", async () => {
    const hostile = ["tab\there", "new\nline", "cr\rlf", "back\\slash", "\\", "quote'", "nul\0byte", "ünïcødé 🚀", ""];
    const echoed = await store.queryWithList<{ value: string }>("SELECT value FROM {list}", hostile);
    expect(echoed.map((r) => r.value)).toEqual(hostile);

    const stored = hostile.slice(0, 5).map((id, i) => sampleUsageEvent({ event_id: `${id}-${i}` }));
    await insertUsageEvents(store, stored);
    const asked = [...stored.map((e) => e.event_id), ...hostile.map((id) => `${id}-absent`)];
    expect([...(await storedEventIds(store, asked))].sort()).toEqual(stored.map((e) => e.event_id).sort());
  });

  it("inserts rows serialised as JSON lines exactly, hostile strings and more than one chunk included", async () => {
    const hostile = ["tab\there", "new\nline", "cr\rlf", "back\\slash", 'quote"', "nul\0byte", "ünïcødé 🚀", "\u2028"];
    // 4,100 rows: the server store sends them in chunks of 2,000 lines.
    const events = Array.from({ length: 4_100 }, (_, i) =>
      sampleUsageEvent({
        event_id: `line-${i}`,
        user_id: hostile[i % hostile.length] as string,
        timestamp_ms: Date.parse("2026-11-23T10:00:00.000Z") + i,
        cost_micro_usd: 9_007_199_254_740 + i,
      }),
    );
    await insertUsageEventLines(store, events.map(usageEventLine));
    const since = await collect(usageEventsSince(store, Date.parse("2026-11-23T00:00:00Z"), 10_000));
    const back = since.flat().filter((e) => e.event_id.startsWith("line-"));
    const byId = new Map(back.map((e) => [e.event_id, e]));
    expect(byId.size).toBe(events.length);
    for (const event of events) expect(byId.get(event.event_id)).toEqual(event);
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
