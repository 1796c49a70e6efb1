import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, type SqlStore, TablesFollower } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdingNextRead } from "../../../test/support/held-reads";
import { eventually } from "../../../test/support/processes";
import { BudgetStore, GrantStore } from "./budget-store";
import type { Budget } from "./definition";
import type { Grant } from "./grants";
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

  it("follows another instance's writes by its periodic look, within a second", async () => {
    const writer = new BudgetStore(store);
    const reader = new BudgetStore(store); // the default look: every 500 ms
    await Promise.all([writer.start(), reader.start()]);
    try {
      const limit = (n: number) =>
        budget("followed", { scope: { type: "project", id: "p" }, metric: "tokens", window: day, limit: n });
      await writer.put(limit(5));
      const writtenAt = Date.now();
      await seen(() => reader.get("followed")?.limit === 5);
      expect(Date.now() - writtenAt).toBeLessThan(1_000);
      await writer.put({ ...limit(7), version: writer.nextVersion() });
      await seen(() => reader.get("followed")?.limit === 7);
      expect(await writer.delete("followed")).toBe(true);
      await seen(() => reader.get("followed") === undefined);
    } finally {
      writer.stop();
      reader.stop();
    }
  });

  it("finds a write that lands after its last look with an older version (within the lookback), and never goes back", async () => {
    const reader = new BudgetStore(store, { refreshMs: 3_600_000 });
    await reader.start();
    try {
      await reader.refresh(); // a look at about now
      // A write whose version was taken 5 s ago on its writer's clock, landing only now.
      const late = budget("late", { scope: { type: "user", id: "u" }, metric: "tokens", window: day, limit: 3 });
      const lateVersion = (Date.now() - 5_000) * 1000;
      await store.insert("budgets", [row({ ...late, version: lateVersion }, lateVersion)]);
      await reader.refresh();
      expect(reader.get("late")?.limit).toBe(3);
      // An older version of it, landing later still, does not replace the newer one.
      await store.insert("budgets", [row({ ...late, limit: 1 }, lateVersion - 1)]);
      await reader.refresh();
      expect(reader.get("late")?.limit).toBe(3);
    } finally {
      reader.stop();
    }
  });

  it("an idle look reads no rows, however many definitions exist", async () => {
    const clock = { now: Date.now() };
    const many = Array.from({ length: 2_000 }, (_, i) =>
      budget(`bulk-${i}`, { scope: { type: "user", id: `u${i}` }, metric: "tokens", window: day, limit: 10 }),
    );
    const writer = new BudgetStore(store);
    await writer.putMany(many.map((definition) => ({ definition })));
    const counted = countingRows(store);
    const reader = new BudgetStore(counted.store, { refreshMs: 3_600_000, clock: () => clock.now });
    await reader.start();
    try {
      expect(counted.rows).toBeGreaterThanOrEqual(2_000); // the one whole read at start
      expect(reader.get("bulk-1999")?.limit).toBe(10);
      clock.now += 60_000; // a minute on: the bulk write is past the lookback of this look's successor
      await reader.refresh();
      counted.rows = 0;
      await reader.refresh();
      expect(counted.rows).toBe(0);
      const changed = { scope: { type: "user", id: "u0" }, metric: "tokens", window: day, limit: 11 } as const;
      await writer.put(budget("bulk-0", changed, clock.now)); // written "now" on the reader's clock
      await reader.refresh();
      expect(counted.rows).toBe(1);
      expect(reader.get("bulk-0")?.limit).toBe(11);
      expect(await writer.deleteMany(many.map((b) => b.id))).toHaveLength(2_000);
    } finally {
      reader.stop();
    }
  });

  it("stores sharing a follower look with one query, and each gets only its table's rows", async () => {
    const counted = countingRows(store);
    const follower = new TablesFollower(counted.store, { pollMs: 3_600_000 });
    const budgets = new BudgetStore(counted.store, { follower });
    const grants = new GrantStore(counted.store, { follower });
    await Promise.all([budgets.start(), grants.start()]);
    const writer = new BudgetStore(store);
    const grantWriter = new GrantStore(store);
    try {
      await writer.put(budget("shared", { scope: { type: "user", id: "s" }, metric: "tokens", window: day, limit: 4 }));
      const grant: Grant = {
        id: "shared-grant",
        budget_id: "shared",
        member: "s",
        amount: 10,
        expires_at_ms: Date.now() + 60_000,
        reason: null,
        created_at_ms: Date.now(),
      };
      await grantWriter.put(grant);
      counted.queries = 0;
      await budgets.refresh();
      expect(counted.queries).toBe(1);
      expect(budgets.get("shared")?.limit).toBe(4);
      expect(grants.get("shared-grant")).toEqual(grant);
      expect(budgets.get("shared-grant")).toBeUndefined();
      expect(grants.get("shared")).toBeUndefined();
    } finally {
      budgets.stop();
      grants.stop();
    }
  });
});

const seen = (ok: () => boolean) => eventually(async () => (ok() ? true : undefined), "the reader's copy", 5_000);

function row(definition: Budget, version: number) {
  return { id: definition.id, definition: JSON.stringify(definition), deleted: 0, version, updated_at: 0 };
}

/** The real store, counting its queries and the rows they return. */
function countingRows(inner: SqlStore): { store: SqlStore; rows: number; queries: number } {
  const counted = {
    rows: 0,
    queries: 0,
    store: Object.create(inner, {
      query: {
        value: async (...args: Parameters<SqlStore["query"]>) => {
          const rows = await inner.query(...args);
          counted.queries++;
          counted.rows += rows.length;
          return rows;
        },
      },
    }) as SqlStore,
  };
  return counted;
}
