import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TOPICS } from "@tollgate/bus";
import { createKeyBuilder } from "@tollgate/counters";
import type { SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { Redis } from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { distributedEnv, dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "./engines";
import { type PrivateBroker, startPrivateBroker } from "./mock-broker";
import { eventually, freePort, type RunningProcess, startTs, waitReady } from "./processes";

export type Mode = "embedded" | "distributed";

/** The whole product in one mode, for suites that drive every route (fault and fuzz suites). */
export interface Stack {
  mode: Mode;
  ingestUrl: string;
  enforcementUrl: string;
  reportsUrl: string;
  adminKey: string;
  /** Polls until `probe` gives a value: at once in embedded mode (visible before the 2xx), within 30 s in distributed. */
  settle<T>(probe: () => Promise<T | undefined>, what: string): Promise<T>;
  /** Processes still running, to assert that none died. */
  processes(): RunningProcess[];
  /**
   * Stops one process with `signal` (SIGKILL: a crash) and starts it again
   * with the same environment, data and ports; embedded mode has one
   * process, whatever the name.
   */
  restart(name: "aggregator" | "embedded", signal?: NodeJS.Signals): Promise<void>;
  /**
   * The stored rows of these events (usage_events FINAL) and the dead
   * letters whose payload holds `marker` (null: none are expected), read last: embedded mode must
   * stop to read its chDB (one process per data directory).
   */
  finalRead(
    eventIds: string[],
    marker: string | null,
  ): Promise<{ rows: Array<Record<string, unknown>>; letters: Letter[] }>;
  stop(): Promise<void>;
}
export interface Letter {
  reason: string;
  payload: string;
}

const ROWS = "SELECT * FROM usage_events FINAL WHERE has({ids:Array(String)}, event_id)";

/** `env` adds to (or overrides) every process's environment, e.g. a feature's flags. */
export async function startStack(mode: Mode, env: Record<string, string> = {}): Promise<Stack> {
  return mode === "embedded" ? startEmbedded(env) : startDistributed(env);
}

async function startEmbedded(extra: Record<string, string>): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), "tollgate-stack-"));
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const ports = { ingest: await freePort(), enforcement: await freePort(), reports: await freePort() };
  const env = {
    TOLLGATE_DATA_DIR: dataDir,
    INGEST_PORT: String(ports.ingest),
    ENFORCEMENT_PORT: String(ports.enforcement),
    REPORTS_PORT: String(ports.reports),
    TOLLGATE_ADMIN_KEY: adminKey,
    LOG_LEVEL: "warn",
    ...extra,
  };
  let proc = startTs("services/embedded/src/index.ts", env, "embedded");
  await proc.waitForOutput(/admin key/, 60_000);
  return {
    mode: "embedded",
    ingestUrl: `http://127.0.0.1:${ports.ingest}`,
    enforcementUrl: `http://127.0.0.1:${ports.enforcement}`,
    reportsUrl: `http://127.0.0.1:${ports.reports}`,
    adminKey,
    settle: async (probe, what) => {
      const value = await probe();
      if (value === undefined) throw new Error(`embedded mode: ${what} was not visible right after the 2xx`);
      return value;
    },
    processes: () => [proc],
    async restart(_name, signal = "SIGTERM") {
      await proc.stop(signal);
      proc = startTs("services/embedded/src/index.ts", env, "embedded");
      await proc.waitForOutput(/admin key/, 60_000);
    },
    async finalRead(eventIds, marker) {
      await proc.stop("SIGTERM");
      const store = await openChdbStore({ path: join(dataDir, "chdb"), database: "tollgate" });
      try {
        const rows = await store.query(ROWS, { ids: eventIds });
        const letters = await store.query<Letter>("SELECT reason, payload FROM dead_letters");
        return { rows, letters: marker === null ? [] : letters.filter((l) => l.payload.includes(marker)) };
      } finally {
        await store.close();
      }
    },
    async stop() {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startDistributed(extra: Record<string, string>): Promise<Stack> {
  const engines = engineEnv();
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const broker: PrivateBroker = await startPrivateBroker();
  const store: SqlStore = await freshClickHouseDatabase();
  const prefix = runId("fz");
  const base = {
    ...distributedEnv({
      brokers: broker.brokers,
      database: store.database,
      adminKey,
      keyPrefix: prefix,
      logLevel: "warn",
    }),
    ...extra,
  };
  const names = ["ingest", "enforcement", "aggregator", "sink", "reports"] as const;
  const start = (name: (typeof names)[number]) => {
    const port = `${name.toUpperCase()}_PORT`;
    // LOG_LEVEL info: the "port" line that says where each listens.
    return startTs(
      `services/${name}/src/index.ts`,
      { ...base, [port]: "0", [`${name.toUpperCase()}_HOST`]: "127.0.0.1", LOG_LEVEL: "info" },
      name,
    );
  };
  const procs = names.map(start);
  const urls = await Promise.all(
    procs.map(async (proc) => `http://127.0.0.1:${(await proc.waitForOutput(/"port":(\d+)/, 60_000))[1]}`),
  );
  await Promise.all(urls.map((url) => waitReady(url)));
  // Checks follow the failure policy until the aggregator has marked the counters complete.
  const redis = new Redis(engines.redisUrl);
  await eventually(async () => {
    const state = await redis.hgetall(createKeyBuilder(prefix).countersState());
    return Number(state.partitions) > 0 && Object.keys(state).length > Number(state.partitions) ? true : undefined;
  }, "counters marked complete");
  redis.disconnect();

  const letters: Letter[] = [];
  const kafka = new Kafka({ clientId: "stack-dlq-reader", brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const dlq = kafka.consumer({ groupId: runId("stack-dlq") });
  await dlq.connect();
  await dlq.subscribe({ topics: [TOPICS.deadLetter], fromBeginning: true });
  await dlq.run({
    eachMessage: async ({ message }) => {
      letters.push(JSON.parse(message.value?.toString() ?? "{}"));
    },
  });
  return {
    mode: "distributed",
    ingestUrl: urls[0] as string,
    enforcementUrl: urls[1] as string,
    reportsUrl: urls[4] as string,
    adminKey,
    settle: (probe, what) => eventually(probe, what, 30_000),
    processes: () => procs,
    async restart(name, signal = "SIGTERM") {
      const i = names.indexOf(name as (typeof names)[number]);
      await procs[i]?.stop(signal);
      const proc = start(name as (typeof names)[number]);
      procs[i] = proc;
      await waitReady(`http://127.0.0.1:${(await proc.waitForOutput(/"port":(\d+)/, 60_000))[1]}`);
    },
    async finalRead(eventIds, marker) {
      const rows = await eventually(async () => {
        const found = await store.query(ROWS, { ids: eventIds });
        return found.length >= eventIds.length ? found : undefined;
      }, "every accepted event as a ClickHouse row");
      if (marker === null) return { rows, letters: [] };
      const found = await eventually(async () => {
        const mine = letters.filter((l) => l.payload.includes(marker));
        return mine.length > 0 ? mine : undefined;
      }, "the dead letters");
      return { rows, letters: found };
    },
    async stop() {
      await dlq.disconnect();
      await Promise.all(procs.map((p) => p.stop()));
      await broker.stop();
      await dropDatabase(store);
    },
  };
}
