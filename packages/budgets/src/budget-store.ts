import { createInterner } from "@tollgate/kit";
import { type Following, type SqlStore, TablesFollower, VersionTable } from "@tollgate/sql";
import type { Budget } from "./definition";
import type { Grant, TierAssignment } from "./grants";

interface Row {
  id: string;
  definition: string;
  deleted: number | string;
  version: number | string;
}

export interface DefinitionStoreOptions {
  /**
   * The follower shared by the process's definitions stores (one query per
   * look for all of them); without one the store follows its table alone,
   * with the options below.
   */
  follower?: TablesFollower;
  /** How often to look for changes made elsewhere (default 500 ms). */
  refreshMs?: number;
  /** See FollowOptions.lookbackMs. */
  lookbackMs?: number;
  clock?: () => number;
}

/**
 * Definitions (budgets, grants, tier assignments, webhook endpoints), durable
 * in a table of (id, definition JSON, deleted, version) in ClickHouse or
 * chDB: they survive a Redis flush and any restart. Every service holds them
 * in memory: read whole once, then followed by change (TablesFollower: every
 * `refreshMs`, default 500 ms, only rows written since the last look), so a
 * change made through any instance takes effect everywhere within a second
 * and an idle instance costs the same with 10 definitions or 100,000.
 *
 * The newest version of an id wins, as in the table (ReplacingMergeTree):
 * a read that began before this process's own write cannot undo it, and a
 * deletion is remembered by its version so that an older row read late
 * cannot bring the definition back.
 */
export class DefinitionStore<T extends { id: string }> {
  private readonly items = new Map<string, T>();
  /** The version held per id, deletions included. */
  private readonly versions = new VersionTable();
  private lastVersion = 0;
  private list: T[] | null = null;
  private readonly following: Following;

  constructor(
    private readonly store: SqlStore,
    private readonly table: "budgets" | "budget_grants" | "tier_assignments" | "webhook_endpoints",
    private readonly options: DefinitionStoreOptions = {},
  ) {
    const follower =
      options.follower ??
      new TablesFollower(store, {
        pollMs: options.refreshMs ?? 500,
        ...(options.lookbackMs !== undefined ? { lookbackMs: options.lookbackMs } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
    this.following = follower.add<Row>({
      table,
      columns: "id, definition, deleted, version",
      versionPerMs: 1_000,
      apply: (rows) => {
        for (const row of rows) {
          // Rows read again inside the lookback are skipped before their JSON is parsed.
          if (!this.isNewer(row.id, Number(row.version))) continue;
          this.hold(row.id, Number(row.version), Number(row.deleted) === 1 ? null : (JSON.parse(row.definition) as T));
        }
      },
    });
  }

  start(): Promise<void> {
    return this.following.start();
  }

  stop(): void {
    this.following.stop();
  }

  /** Reads what changed since the last look (the follower does so every `refreshMs`). */
  refresh(): Promise<void> {
    return this.following.poll();
  }

  private isNewer(id: string, version: number): boolean {
    const held = this.versions.get(id);
    return held === undefined || held < version;
  }

  /** Keeps `item` (null: deleted) unless the same or a newer version of `id` is held already. */
  private hold(id: string, version: number, item: T | null): void {
    if (!this.isNewer(id, version)) return;
    this.versions.set(id, version);
    this.lastVersion = Math.max(this.lastVersion, version);
    if (item) this.items.set(id, this.compact(item));
    else if (!this.items.delete(id)) return;
    this.list = null;
  }

  /** An item as held in memory: subclasses share the parts many items have alike (see createInterner). */
  protected compact(item: T): T {
    return item;
  }

  /** Every item; the same array until the next change (every check and event asks: no copy each time). */
  all(): T[] {
    this.list ??= [...this.items.values()];
    return this.list;
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  /**
   * A version newer than any this process wrote or read, and than the
   * clock (µs): a write wins over every version it could have seen.
   */
  nextVersion(): number {
    const now = (this.options.clock ?? Date.now)() * 1000;
    this.lastVersion = Math.max(now, this.lastVersion + 1);
    return this.lastVersion;
  }

  async put(definition: T, version = this.nextVersion()): Promise<void> {
    await this.putMany([{ definition, version }]);
  }

  /** Writes many in one insert (a bulk apply): each with its own version, or one new version for all. */
  async putMany(items: ReadonlyArray<{ definition: T; version?: number }>): Promise<void> {
    if (items.length === 0) return;
    const updatedAt = Math.floor((this.options.clock ?? Date.now)() / 1000);
    const batchVersion = items.some((item) => item.version === undefined) ? this.nextVersion() : 0;
    const rows = items.map(({ definition, version = batchVersion }) => ({
      id: definition.id,
      definition: JSON.stringify(definition),
      deleted: 0,
      version,
      updated_at: updatedAt,
    }));
    await this.store.insert(this.table, rows);
    rows.forEach((row, i) => {
      this.hold(row.id, row.version, (items[i] as { definition: T }).definition);
    });
  }

  async delete(id: string): Promise<boolean> {
    return (await this.deleteMany([id])).length === 1;
  }

  /** Deletes those that exist, in one insert; returns their ids. */
  async deleteMany(ids: ReadonlyArray<string>): Promise<string[]> {
    const existing = [...new Set(ids)].flatMap((id) => {
      const item = this.items.get(id);
      return item ? [{ id, item }] : [];
    });
    if (existing.length === 0) return [];
    const updatedAt = Math.floor((this.options.clock ?? Date.now)() / 1000);
    const version = this.nextVersion();
    const rows = existing.map(({ id, item }) => ({
      id,
      definition: JSON.stringify(item),
      deleted: 1,
      version,
      updated_at: updatedAt,
    }));
    await this.store.insert(this.table, rows);
    for (const row of rows) this.hold(row.id, row.version, null);
    return rows.map((row) => row.id);
  }
}

/** Budget definitions (table `budgets`). */
export class BudgetStore extends DefinitionStore<Budget> {
  private readonly intern = createInterner();

  constructor(store: SqlStore, options: DefinitionStoreOptions = {}) {
    super(store, "budgets", options);
  }
  /** Most budgets have the same window, filter, limits and thresholds: held once each, not per budget. */
  protected override compact(budget: Budget): Budget {
    budget.window = this.intern(budget.window);
    budget.alert_thresholds_pct = this.intern(budget.alert_thresholds_pct);
    budget.degrade = this.intern(budget.degrade);
    budget.filter = this.intern(budget.filter);
    budget.per_request = this.intern(budget.per_request);
    budget.rate_limit = this.intern(budget.rate_limit);
    return budget;
  }
  override put(budget: Budget): Promise<void> {
    return super.put(budget, budget.version);
  }
  override putMany(items: ReadonlyArray<{ definition: Budget; version?: number }>): Promise<void> {
    return super.putMany(items.map(({ definition }) => ({ definition, version: definition.version })));
  }
}

export class GrantStore extends DefinitionStore<Grant> {
  constructor(store: SqlStore, options: DefinitionStoreOptions = {}) {
    super(store, "budget_grants", options);
  }
}

export class TierStore extends DefinitionStore<TierAssignment> {
  constructor(store: SqlStore, options: DefinitionStoreOptions = {}) {
    super(store, "tier_assignments", options);
  }
}
