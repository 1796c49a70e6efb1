import { mkdirSync } from "node:fs";
import { Session } from "chdb";
import { bindSql, quoteIdentifier, type SqlParams } from "./bind";
import type { SqlStore } from "./store";

/**
 * chDB: the ClickHouse engine in-process, data on disk under `path`. One data
 * directory per process (a libchdb rule), so embedded mode opens exactly one.
 */
export async function openChdbStore(options: { path: string; database: string }): Promise<SqlStore> {
  const database = quoteIdentifier(options.database);
  mkdirSync(options.path, { recursive: true });
  const session = new Session(options.path);
  await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${database}`);
  // USE is per session and persists, so unqualified table names resolve here.
  await session.queryAsync(`USE ${database}`);

  // Every call in flight, so close() can wait for them: closing the session
  // (a synchronous native call) while a query runs on chDB's thread can block
  // the process for good — a late refresh of keys or budgets at shutdown did.
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    void promise.then(
      () => inFlight.delete(promise),
      () => inFlight.delete(promise),
    );
    return promise;
  };
  const run = (sql: string, format?: string) => track(session.queryAsync(sql, format ? { format } : {}));

  const store: SqlStore = {
    engine: "chdb",
    database,
    async command(sql: string, params?: SqlParams) {
      await run(bindSql(sql, params));
    },
    async query<T>(sql: string, params?: SqlParams) {
      const text = (await run(bindSql(sql, params), "JSONEachRow")).text();
      const rows: T[] = [];
      for (const line of text.split("\n")) if (line.length > 0) rows.push(JSON.parse(line) as T);
      return rows;
    },
    queryWithList<T>(sql: string, list: ReadonlyArray<string>) {
      // In-process: no wire or parser cost worth a temporary table.
      return store.query<T>(sql.replaceAll("{list}", "(SELECT arrayJoin({list:Array(String)}) AS value)"), {
        list: [...list],
      });
    },
    async insert(table: string, rows: ReadonlyArray<Record<string, unknown>>) {
      if (rows.length === 0) return;
      await track(session.insert({ table: `${database}.${quoteIdentifier(table)}`, values: rows }));
    },
    async insertJsonLines(table: string, lines: ReadonlyArray<string>) {
      if (lines.length === 0) return;
      // chDB's raw insert: the bytes go to the engine's parser as they are.
      await track(
        session.insert({
          table: `${database}.${quoteIdentifier(table)}`,
          values: `${lines.join("\n")}\n`,
          format: "JSONEachRow",
        }),
      );
    },
    async version() {
      const text = (await run("SELECT version() AS v", "JSONEachRow")).text();
      return (JSON.parse(text.trim()) as { v: string }).v;
    },
    async ping() {
      await run("SELECT 1");
    },
    async close() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      session.close();
    },
  };
  return store;
}
