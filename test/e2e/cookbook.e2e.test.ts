import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insertUsageEvents, migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, describe, expect, it } from "vitest";
import { COOKBOOK, cookbookEntries, runAsText, seededStore } from "../support/cookbook";
import { cookbookEvents } from "../support/cookbook-data";
import { engineEnv, runId } from "../support/engines";

/**
 * docs/sql-cookbook.md: every query runs on the shipped schema and prints
 * exactly the result the cookbook shows — on the ClickHouse server and on
 * chDB. Refresh the printed results with `node --import tsx test/support/cookbook.ts`.
 */
const entries = cookbookEntries(readFileSync(COOKBOOK, "utf8"));
const chdbDir = mkdtempSync(join(tmpdir(), "tollgate-cookbook-"));
afterAll(() => rmSync(chdbDir, { recursive: true, force: true }));

const engines: Array<[string, () => Promise<SqlStore>]> = [
  ["ClickHouse server", () => seededStore(engineEnv().clickhouseUrl, runId("tg_cookbook_"))],
  [
    "chDB",
    async () => {
      const store = await openChdbStore({ path: chdbDir, database: runId("tg_cookbook_") });
      await migrate(store);
      await insertUsageEvents(store, cookbookEvents());
      return store;
    },
  ],
];

describe.each(engines)("SQL cookbook on %s", (_name, open) => {
  let store: SqlStore | undefined;
  afterAll(async () => {
    await store?.command(`DROP DATABASE IF EXISTS ${store.database}`);
    await store?.close();
  });

  it("has the four questions", () => {
    expect(entries).toHaveLength(4);
  });

  it.each(entries.map((entry, i) => [i + 1, entry] as const))("query %i prints the result shown", async (_i, entry) => {
    store ??= await open();
    expect(entry.result.length).toBeGreaterThan(0);
    expect(await runAsText(store, entry.sql)).toBe(entry.result);
  });
});
