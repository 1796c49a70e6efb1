import type { SqlStore } from "@tollgate/sql";
import type { Budget } from "./definition";
import type { Grant, TierAssignment } from "./grants";

interface Row {
  id: string;
  definition: string;
  deleted: number | string;
  version: number | string;
}

/**
 * Definitions (budgets, grants, tier assignments), durable in a table of
 * (id, definition JSON, deleted, version) in ClickHouse or chDB: they survive
 * a Redis flush and any restart. Every service holds them in memory and
 * refreshes every `refreshMs` (default 500 ms), so a change made through any
 * instance takes effect everywhere within a second.
 */
export class DefinitionStore<T extends { id: string }> {
  private items = new Map<string, T>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;
  /**
   * This process's writes, numbered as they complete: a refresh whose read
   * began before a write completed may not see it, and must not undo it
   * (read your writes: a budget PUT then listed at once must be there).
   */
  private writes: Array<{ seq: number; id: string; item: T | null }> = [];
  private writeSeq = 0;
  private list: T[] | null = null;

  constructor(
    private readonly store: SqlStore,
    private readonly table: "budgets" | "budget_grants" | "tier_assignments" | "webhook_endpoints",
    private readonly options: { refreshMs?: number; clock?: () => number } = {},
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch(() => {
        // Keep deciding on the last good copy; readiness reports the store itself.
      });
    }, this.options.refreshMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const readFrom = this.writeSeq;
    const rows = await this.store.query<Row>(`SELECT id, definition, deleted, version FROM ${this.table} FINAL`);
    const next = new Map<string, T>();
    for (const row of rows) {
      if (Number(row.deleted) === 1) continue;
      next.set(row.id, JSON.parse(row.definition) as T);
    }
    // Writes completed while the read ran: kept; older ones are in what was read.
    this.writes = this.writes.filter((write) => write.seq > readFrom);
    for (const write of this.writes) {
      if (write.item) next.set(write.id, write.item);
      else next.delete(write.id);
    }
    this.items = next;
    this.list = null;
  }

  private wrote(id: string, item: T | null): void {
    this.writes.push({ seq: ++this.writeSeq, id, item });
    if (item) this.items.set(id, item);
    else this.items.delete(id);
    this.list = null;
  }

  /** Every item; the same array until the next change (every check and event asks: no copy each time). */
  all(): T[] {
    this.list ??= [...this.items.values()];
    return this.list;
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  /** A version that increases with every write from this process and with time across processes. */
  nextVersion(): number {
    const now = (this.options.clock ?? Date.now)() * 1000;
    this.lastVersion = Math.max(now, this.lastVersion + 1);
    return this.lastVersion;
  }

  async put(definition: T, version = this.nextVersion()): Promise<void> {
    await this.store.insert(this.table, [
      {
        id: definition.id,
        definition: JSON.stringify(definition),
        deleted: 0,
        version,
        updated_at: Math.floor((this.options.clock ?? Date.now)() / 1000),
      },
    ]);
    this.wrote(definition.id, definition);
  }

  async delete(id: string): Promise<boolean> {
    const existing = this.items.get(id);
    if (!existing) return false;
    const nowMs = (this.options.clock ?? Date.now)();
    await this.store.insert(this.table, [
      {
        id,
        definition: JSON.stringify(existing),
        deleted: 1,
        version: this.nextVersion(),
        updated_at: Math.floor(nowMs / 1000),
      },
    ]);
    this.wrote(id, null);
    return true;
  }
}

/** Budget definitions (table `budgets`). */
export class BudgetStore extends DefinitionStore<Budget> {
  constructor(store: SqlStore, options: { refreshMs?: number; clock?: () => number } = {}) {
    super(store, "budgets", options);
  }
  override put(budget: Budget): Promise<void> {
    return super.put(budget, budget.version);
  }
}

export class GrantStore extends DefinitionStore<Grant> {
  constructor(store: SqlStore, options: { refreshMs?: number; clock?: () => number } = {}) {
    super(store, "budget_grants", options);
  }
}

export class TierStore extends DefinitionStore<TierAssignment> {
  constructor(store: SqlStore, options: { refreshMs?: number; clock?: () => number } = {}) {
    super(store, "tier_assignments", options);
  }
}
