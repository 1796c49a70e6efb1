import type { SqlParams } from "./bind";
import type { SqlStore } from "./store";

/**
 * A row of a versioned table: every write is a new row with a higher
 * `version` (ReplacingMergeTree(version), ORDER BY id), a deletion or
 * revocation is such a row too.
 */
export interface VersionedRow {
  id: string;
  version: number | string;
}

export interface FollowedTable<Row extends VersionedRow> {
  table: string;
  /** The columns to read, `version` among them: the same list for every table one follower follows. */
  columns: string;
  /** Version units per millisecond of wall time (versions are writers' clock readings: µs → 1,000, ms → 1). */
  versionPerMs: number;
  /** Rows read (oldest version first); the caller keeps the newest per id. */
  apply(rows: Row[]): void;
}

export interface FollowOptions {
  /** How often to look for changes (default 500 ms): the bound on how stale an instance can be. */
  pollMs?: number;
  /**
   * How far behind the last look to read again (default 10 s): a write whose
   * version was taken (on its writer's clock) before our last look but whose
   * row landed after it — a slow insert, a writer whose clock is a little
   * behind — is still found. Clocks must agree within this margin (NTP does).
   */
  lookbackMs?: number;
  clock?: () => number;
  onError?(err: unknown): void;
}

/** One table's part in a follower. */
export interface Following {
  /** Reads the whole table once (FINAL); from then on it is part of the follower's looks. */
  start(): Promise<void>;
  /** Looks for changes now (in every table of the follower); before `start`, reads the table whole once. */
  poll(): Promise<void>;
  /** Leaves the follower; the looks stop once no table is left. */
  stop(): void;
}

/**
 * Follows versioned definitions tables by change, not by reload: after one
 * full read of each, every look reads only rows whose version is at least
 * (last look − lookback) — nothing when nothing changed — so an idle
 * instance's cost does not grow with how many budgets or keys exist. The
 * versions are wall-clock readings of the writers, so "newer than the last
 * look" is a time, and the lookback covers inserts that land late; rows read
 * again inside it are the caller's to skip (their version is not newer).
 *
 * Tables with the same columns share one follower, and so one query per look
 * (UNION ALL): budgets, grants, tiers and webhook endpoints cost one small
 * request every `pollMs`, not four.
 */
export class TablesFollower {
  private readonly tables = new Set<FollowedTable<VersionedRow>>();
  private lookedAtMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly clock: () => number;

  constructor(
    private readonly store: SqlStore,
    private readonly options: FollowOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
  }

  add<Row extends VersionedRow>(table: FollowedTable<Row>): Following {
    const followed = table as unknown as FollowedTable<VersionedRow>;
    const readWhole = async () => {
      const rows = await this.store.query<VersionedRow>(`SELECT ${table.columns} FROM ${table.table} FINAL`);
      followed.apply(byVersion(rows));
    };
    return {
      start: async () => {
        const startedAtMs = this.clock();
        await readWhole();
        if (this.tables.size === 0) this.lookedAtMs = startedAtMs;
        // A table joining later is read whole up to its start: looks from the earliest start on cover all.
        this.lookedAtMs = Math.min(this.lookedAtMs, startedAtMs);
        this.tables.add(followed);
        this.schedule();
      },
      // Before start (a one-off read of a store that is not kept up to date): the whole table, once.
      poll: () => (this.tables.has(followed) ? this.poll() : readWhole()),
      stop: () => {
        this.tables.delete(followed);
        if (this.tables.size === 0) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
      },
    };
  }

  /** Reads what changed in every followed table since the last look. */
  async poll(): Promise<void> {
    const tables = [...this.tables];
    if (tables.length === 0) return;
    const startedAtMs = this.clock();
    const params: Record<string, number> = {};
    const branches = tables.map((table, i) => {
      params[`since${i}`] = Math.max(0, Math.floor((this.lookedAtMs - this.lookbackMs) * table.versionPerMs));
      return `SELECT ${i} AS followed_table, ${table.columns} FROM ${table.table} WHERE version >= {since${i}:UInt64}`;
    });
    const rows = await this.store.query<VersionedRow & { followed_table: number | string }>(
      branches.join(" UNION ALL "),
      params as SqlParams,
    );
    const perTable = tables.map((): VersionedRow[] => []);
    for (const row of rows) perTable[Number(row.followed_table)]?.push(row);
    tables.forEach((table, i) => {
      const changed = perTable[i] as VersionedRow[];
      if (changed.length > 0) table.apply(byVersion(changed));
    });
    // Everything written before this look began is in it (or inside the next lookback).
    this.lookedAtMs = Math.max(this.lookedAtMs, startedAtMs);
  }

  private get lookbackMs(): number {
    return this.options.lookbackMs ?? 10_000;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.tables.size === 0) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(() => {
          this.timer = undefined;
          this.schedule();
        });
    }, this.options.pollMs ?? 500);
    this.timer.unref();
  }
}

function byVersion<Row extends VersionedRow>(rows: Row[]): Row[] {
  return rows.sort((a, b) => Number(a.version) - Number(b.version));
}
