import type { SqlParams } from "./bind";

/**
 * One interface over the two ClickHouse engines Tollgate runs on: a server
 * over HTTP (distributed mode) and chDB in-process (embedded mode). Every
 * query the project ships goes through it, so the same SQL is tested on both.
 * SQL names tables unqualified; the store's database is the current one.
 */
export interface SqlStore {
  readonly engine: "server" | "chdb";
  readonly database: string;
  /** DDL and other statements without a result. */
  command(sql: string, params?: SqlParams): Promise<void>;
  /** Rows as objects (JSONEachRow); 64-bit integers as numbers. */
  query<T = Record<string, unknown>>(sql: string, params?: SqlParams): Promise<T[]>;
  /**
   * Rows of `sql`, which reads a long list of strings as the one-column
   * table `{list}` (column `value`). Far cheaper than a 50,000-element array
   * literal, which the server must parse as SQL: the server loads the list
   * into a temporary table as data.
   */
  queryWithList<T = Record<string, unknown>>(sql: string, list: ReadonlyArray<string>): Promise<T[]>;
  /** Inserts rows as JSONEachRow; resolves once the engine has them. */
  insert(table: string, rows: ReadonlyArray<Record<string, unknown>>): Promise<void>;
  /**
   * Inserts rows already serialised, one JSON object per element (no
   * newline); resolves once the engine has them. For callers that hold many
   * rows a while: one string per row is far less for the GC than an object.
   */
  insertJsonLines(table: string, lines: ReadonlyArray<string>): Promise<void>;
  /** Server version, e.g. "18.16.1" or "26.7.2.1". */
  version(): Promise<string>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Compares dotted versions numerically: versionAtLeast("18.16.1", "20.1") === false. */
export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split(".").map(Number);
  const b = minimum.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
