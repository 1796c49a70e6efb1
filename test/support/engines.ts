import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openServerStore, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";

/** A short random id that isolates one test's keys, database and tenants from every other. */
export function runId(prefix = "t"): string {
  return `${prefix}${randomBytes(5).toString("hex")}`;
}

export function engineEnv() {
  const need = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set (see test/support/require-engines.ts)`);
    return value;
  };
  return {
    redisUrl: need("REDIS_URL"),
    /** The Redis Cluster of infra/local/up.sh (`redis+cluster://host:port,…`): the distributed stack's Redis. */
    redisClusterUrl: need("REDIS_CLUSTER_URL"),
    clickhouseUrl: need("CLICKHOUSE_URL"),
    kafkaBrokers: need("KAFKA_BROKERS"),
    mockBrokerBin: need("TOLLGATE_MOCK_BROKER_BIN"),
  };
}

/** A fresh, migrated database on the ClickHouse server; drop it with `dropDatabase`. */
export async function freshClickHouseDatabase(name = runId("tg_test_")): Promise<SqlStore> {
  const store = await openServerStore({ url: engineEnv().clickhouseUrl, database: name });
  await migrate(store);
  return store;
}

export async function dropDatabase(store: SqlStore): Promise<void> {
  await store.command(`DROP DATABASE IF EXISTS ${store.database}`);
  await store.close();
}

/**
 * The two SQL engines every store test runs on: the ClickHouse server of
 * these machines (18.16, over HTTP) and chDB (a current engine,
 * in-process), each opening a fresh database named `prefix` + random.
 * `cleanup` removes chDB's directory (call it in afterAll).
 */
export function sqlEngines(prefix: string): {
  engines: Array<[string, () => Promise<SqlStore>]>;
  cleanup: () => void;
} {
  const chdbDir = mkdtempSync(join(tmpdir(), `tollgate-${prefix}`));
  return {
    engines: [
      ["ClickHouse server", () => openServerStore({ url: engineEnv().clickhouseUrl, database: runId(prefix) })],
      ["chDB", () => openChdbStore({ path: chdbDir, database: runId(prefix) })],
    ],
    cleanup: () => rmSync(chdbDir, { recursive: true, force: true }),
  };
}

/**
 * The environment every distributed service of a test or bench run shares:
 * its private broker, the shared Redis under its own key prefix, its own
 * ClickHouse database, its admin key.
 */
export function distributedEnv(run: {
  brokers: string;
  database: string;
  adminKey: string;
  keyPrefix: string;
  /** The stack's Redis, when not the plain one (e.g. the Redis Cluster). */
  redisUrl?: string;
  logLevel?: string;
}): Record<string, string> {
  const engines = engineEnv();
  return {
    KAFKA_BROKERS: run.brokers,
    REDIS_URL: run.redisUrl ?? engines.redisUrl,
    REDIS_KEY_PREFIX: run.keyPrefix,
    CLICKHOUSE_URL: engines.clickhouseUrl,
    CLICKHOUSE_DATABASE: run.database,
    TOLLGATE_ADMIN_KEY: run.adminKey,
    LOG_LEVEL: run.logLevel ?? "warn",
  };
}
