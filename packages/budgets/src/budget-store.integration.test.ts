import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdingNextRead } from "../../../test/support/held-reads";
import { BudgetStore } from "./budget-store";
import { budget } from "./testing";

const dir = mkdtempSync(join(tmpdir(), "tollgate-budget-store-"));
let store: SqlStore;

beforeAll(async () => {
  store = await openChdbStore({ path: dir, database: "budgets_it" });
  await migrate(store);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const day = { type: "calendar", unit: "day" } as const;

describe("BudgetStore (definitions loaded and refreshed from chDB)", () => {
  it("keeps its own writes across a refresh that read before them, and hands out one array until a change", async () => {
    const slow = holdingNextRead(store);
    const budgets = new BudgetStore(slow.store, { refreshMs: 3_600_000 });
    await budgets.start();
    try {
      await budgets.put(budget("old", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1 }));
      const before = budgets.all();
      expect(budgets.all()).toBe(before); // the same array while nothing changed
      slow.hold();
      const refreshing = budgets.refresh(); // reads now: neither of the two writes below
      await budgets.put(budget("new", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 2 }));
      expect(await budgets.delete("old")).toBe(true);
      slow.letGo();
      await refreshing;
      expect(budgets.all().map((b) => b.id)).toEqual(["new"]);
      expect(budgets.all()).not.toBe(before);
    } finally {
      budgets.stop();
    }
  });
});
