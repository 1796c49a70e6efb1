import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TOPICS } from "@tollgate/bus";
import { connectRedis, createKeyBuilder, type RedisClient } from "@tollgate/counters";
import type { SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { Kafka, logLevel } from "kafkajs";
import { distributedEnv, dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "./engines";
import { type PrivateBroker, startPrivateBroker } from "./mock-broker";
import { eventually, freePort, type RunningProcess, startTs, waitReady } from "./processes";

export type Mode = "embedded" | "distributed";

/** The whole product in one mode, for suites that drive every route (fault and fuzz suites). */
export interface Stack {
  mode: Mode;
  /** The first instance's URL; `ingestUrls` has every instance's (embedded mode: one). */
  ingestUrl: string;
  ingestUrls: string[];
  /** The first instance's URL; `enforcementUrls` has every instance's (embedded mode: one). */
  enforcementUrl: string;
  enforcementUrls: string[];
  reportsUrl: string;
  adminKey: string;
  /** Polls until `probe` gives a value: at once in embedded mode (visible before the 2xx), within 30 s in distributed. */
  settle<T>(probe: () => Promise<T | undefined>, what: string): Promise<T>;
  /** Processes still running, to assert that none died. */
  processes(): RunningProcess[];
  /**
   * Stops a service with `signal` (SIGKILL: a crash) and starts it again
   * with the same environment, data and ports: every instance of it (all
   * down, then all up), or only `instance` (0 or 1) while the other keeps
   * running. Embedded mode has one process, whatever the name. On the mock
   * broker a consumer that joins a group already stable with another
   * member may not get in (seen with kafkajs: the rebalance never settles),
   * so restart aggregators and sinks all together.
   */
  restart(
    name: "aggregator" | "sink" | "ingest" | "enforcement" | "embedded",
    signal?: NodeJS.Signals,
    instance?: number,
  ): Promise<void>;
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
  return mode === "embedded" ? startEmbedded(env) : startDistributedStack(env, ONE_OF_EACH);
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
    ingestUrls: [`http://127.0.0.1:${ports.ingest}`],
    enforcementUrl: `http://127.0.0.1:${ports.enforcement}`,
    enforcementUrls: [`http://127.0.0.1:${ports.enforcement}`],
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

/**
 * How many of each service a distributed stack runs. The scale-out suites
 * (distributed.e2e, which holds the scale-out scenario, and the kill and
 * loss fault suites, which start their own consumers) run two of every
 * service that scales out: partitions split between the consumers, checks
 * spread over both enforcement instances. The suites about one feature
 * (webhooks, unsettled charges, SDK adapters, fuzzing) run one of each: a
 * second instance proves nothing there and costs a group rebalance and
 * four more process starts on two cores.
 */
export const TWO_OF_EACH = { ingest: 2, enforcement: 2, aggregator: 2, sink: 2, reports: 1 } as const;
export const ONE_OF_EACH = { ingest: 1, enforcement: 1, aggregator: 1, sink: 1, reports: 1 } as const;
export type Service = keyof typeof TWO_OF_EACH;
const SERVICES = Object.keys(TWO_OF_EACH) as Service[];
/** Partitions of the stack's usage topic: three for each aggregator and each sink. */
export const USAGE_PARTITIONS = 6;

/** Distributed mode, with what its suites read besides the HTTP routes. */
export interface DistributedStack extends Stack {
  mode: "distributed";
  brokers: string;
  keyPrefix: string;
  /** The stack's own ClickHouse database. */
  store: SqlStore;
  /** The Redis (Cluster) every service of the stack uses, its keys under `keyPrefix`; open it with `connectRedis`. */
  redisUrl: string;
  /** Dead letters and budget alerts published so far (read from the start of their topics). */
  letters: Letter[];
  alerts: Array<Record<string, unknown>>;
  /** The running instances of one service, in instance order. */
  instances(name: Service): RunningProcess[];
}

/**
 * The stack's Redis is the Redis Cluster (issue 19: scale-out runs on a
 * cluster): the services get it as REDIS_URL, the stack's own reads go
 * through the same `connectRedis`.
 */
export function stackRedisUrl(): string {
  return engineEnv().redisClusterUrl;
}

/** Waits until every partition of the usage topic is marked in the counters-state hash (as enforcement reads it). */
export async function countersComplete(
  redis: RedisClient,
  prefix: string,
  what = "counters marked complete",
): Promise<void> {
  await eventually(async () => {
    const state = await redis.hgetall(createKeyBuilder(prefix).countersState());
    const partitions = Number(state.partitions ?? "0");
    if (partitions === 0) return undefined;
    for (let p = 0; p < partitions; p++) if (state[`p${p}`] === undefined) return undefined;
    return true;
  }, what);
}

export async function startDistributedStack(
  extra: Record<string, string> = {},
  instances: Record<Service, number> = TWO_OF_EACH,
): Promise<DistributedStack> {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const [broker, store]: [PrivateBroker, SqlStore] = await Promise.all([
    startPrivateBroker(USAGE_PARTITIONS),
    freshClickHouseDatabase(),
  ]);
  const prefix = runId("fz");
  const redisUrl = stackRedisUrl();
  const base = {
    ...distributedEnv({
      brokers: broker.brokers,
      database: store.database,
      adminKey,
      keyPrefix: prefix,
      redisUrl,
      logLevel: "warn",
    }),
    ...extra,
  };
  /** Ports of the HTTP services, kept across restarts so their URLs stay valid. */
  const ports = new Map<string, string>();
  const start = (name: Service, instance: number): RunningProcess => {
    const upper = name.toUpperCase();
    return startTs(
      `services/${name}/src/index.ts`,
      {
        ...base,
        [`${upper}_PORT`]: ports.get(`${name}/${instance}`) ?? "0",
        [`${upper}_HOST`]: "127.0.0.1",
        // At least info: the "port" line that says where each listens.
        LOG_LEVEL: extra.LOG_LEVEL ?? "info",
        // One webhook dispatcher (see services/aggregator/src/webhooks.ts): two would both send a due delivery.
        ...(name === "aggregator" && instance > 0 ? { AGGREGATOR_WEBHOOKS: "false" } : {}),
      },
      `${name}#${instance}`,
    );
  };
  const ready = async (name: Service, instance: number, proc: RunningProcess): Promise<string> => {
    // Nine processes starting at once on two cores: a minute each is not always enough.
    const port = (await proc.waitForOutput(/"port":(\d+)/, 120_000))[1] as string;
    ports.set(`${name}/${instance}`, port);
    const url = `http://127.0.0.1:${port}`;
    // Consumers are ready once they joined their group: a rebalance waits for the slowest member to start.
    await waitReady(url, 120_000).catch(async (err: unknown) => {
      const readyz = await fetch(`${url}/readyz`).then((r) => r.text(), String);
      throw new Error(
        `${name}#${instance} not ready: ${String(err)}; /readyz: ${readyz}\n${proc.output().slice(-2000)}`,
      );
    });
    return url;
  };
  const procs = new Map<Service, RunningProcess[]>();
  const urls = new Map<Service, string[]>();
  const all = () => [...procs.values()].flat();
  const urlsOf = (name: Service) => urls.get(name) as string[];
  const redis = connectRedis(redisUrl);
  try {
    // All at once: on two cores the tsx start-ups overlap their I/O waits.
    for (const name of SERVICES)
      procs.set(
        name,
        Array.from({ length: instances[name] }, (_, i) => start(name, i)),
      );
    await Promise.all(
      SERVICES.map(async (name) => {
        urls.set(name, await Promise.all((procs.get(name) ?? []).map((proc, i) => ready(name, i, proc))));
      }),
    );
    // Checks follow the failure policy until the aggregators have marked the counters of every partition complete.
    await countersComplete(redis, prefix);
  } catch (err) {
    // A failed start must not leave nine processes behind (the suite's afterAll has no stack to stop).
    await Promise.all(all().map((p) => p.stop("SIGKILL")));
    await broker.stop();
    await dropDatabase(store);
    throw err;
  } finally {
    redis.disconnect();
  }

  const letters: Letter[] = [];
  const alerts: Array<Record<string, unknown>> = [];
  const kafka = new Kafka({ clientId: "stack-dlq-reader", brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const dlq = kafka.consumer({ groupId: runId("stack-dlq") });
  await dlq.connect();
  await dlq.subscribe({ topics: [TOPICS.deadLetter, TOPICS.alerts], fromBeginning: true });
  await dlq.run({
    eachMessage: async ({ topic, message }) => {
      const value = JSON.parse(message.value?.toString() ?? "{}");
      (topic === TOPICS.alerts ? alerts : letters).push(value);
    },
  });
  return {
    mode: "distributed",
    ingestUrl: urlsOf("ingest")[0] as string,
    ingestUrls: urlsOf("ingest"),
    enforcementUrl: urlsOf("enforcement")[0] as string,
    enforcementUrls: urlsOf("enforcement"),
    reportsUrl: urlsOf("reports")[0] as string,
    adminKey,
    brokers: broker.brokers,
    keyPrefix: prefix,
    store,
    redisUrl,
    letters,
    alerts,
    settle: (probe, what) => eventually(probe, what, 30_000),
    processes: all,
    instances: (name) => [...(procs.get(name) ?? [])],
    async restart(name, signal = "SIGTERM", instance) {
      if (name === "embedded") throw new Error("distributed mode has no embedded process");
      const mine = procs.get(name) as RunningProcess[];
      const which = instance === undefined ? mine.map((_, i) => i) : [instance];
      // Every chosen instance is down before any comes back: "the aggregator is dead" means all of them.
      await Promise.all(which.map((i) => mine[i]?.stop(signal)));
      await Promise.all(
        which.map(async (i) => {
          const proc = start(name, i);
          mine[i] = proc;
          await ready(name, i, proc);
        }),
      );
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
      await Promise.all(all().map((p) => p.stop()));
      await broker.stop();
      await dropDatabase(store);
    },
  };
}
