import type { SqlStore } from "@tollgate/sql";
import type { Budget } from "./definition";

interface Row {
  id: string;
  definition: string;
  deleted: number | string;
  version: number | string;
}

/**
 * Budget definitions, durable in the `budgets` table (ClickHouse or chDB):
 * they survive a Redis flush and any restart. Every service holds them in
 * memory and refreshes every `refreshMs` (default 500 ms), so a change made
 * through any instance takes effect everywhere within a second.
 */
export class BudgetStore {
  private budgets = new Map<string, Budget>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;

  constructor(
    private readonly store: SqlStore,
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
    const rows = await this.store.query<Row>("SELECT id, definition, deleted, version FROM budgets FINAL");
    const next = new Map<string, Budget>();
    for (const row of rows) {
      if (Number(row.deleted) === 1) continue;
      next.set(row.id, JSON.parse(row.definition) as Budget);
    }
    this.budgets = next;
  }

  all(): Budget[] {
    return [...this.budgets.values()];
  }

  get(id: string): Budget | undefined {
    return this.budgets.get(id);
  }

  /** A version that increases with every write from this process and with time across processes. */
  nextVersion(): number {
    const now = (this.options.clock ?? Date.now)() * 1000;
    this.lastVersion = Math.max(now, this.lastVersion + 1);
    return this.lastVersion;
  }

  async put(budget: Budget): Promise<void> {
    await this.store.insert("budgets", [
      {
        id: budget.id,
        definition: JSON.stringify(budget),
        deleted: 0,
        version: budget.version,
        updated_at: Math.floor(budget.updated_at_ms / 1000),
      },
    ]);
    this.budgets.set(budget.id, budget);
  }

  async delete(id: string): Promise<boolean> {
    const existing = this.budgets.get(id);
    if (!existing) return false;
    const nowMs = (this.options.clock ?? Date.now)();
    await this.store.insert("budgets", [
      {
        id,
        definition: JSON.stringify(existing),
        deleted: 1,
        version: this.nextVersion(),
        updated_at: Math.floor(nowMs / 1000),
      },
    ]);
    this.budgets.delete(id);
    return true;
  }
}
