import { CONSUMER_GROUPS, runConsumerService } from "@tollgate/bus";
import { createLogger, parseEnv, type Telemetry } from "@tollgate/kit";
import { openServerStore } from "@tollgate/sql";
import { sinkEnvSchema } from "./env";
import { createSinkHandler } from "./service";

/** Distributed mode: consume tollgate.usage.v1 into ClickHouse. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(sinkEnvSchema);
  const logger = createLogger("sink", env.LOG_LEVEL);
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  await runConsumerService({
    name: "sink",
    groupId: CONSUMER_GROUPS.sink,
    brokers: env.KAFKA_BROKERS,
    port: env.SINK_PORT,
    host: env.SINK_HOST,
    handle: createSinkHandler(store, { maxRows: env.SINK_BATCH_ROWS, lingerMs: env.SINK_LINGER_MS }),
    // Large fetches from every partition at once, and fetching goes on while
    // ClickHouse inserts: one insert gathers many fetches. Three batches may
    // be pending: two inserting and the next one filling, so a full batch is
    // ready when an insert finishes (with two, fetching stopped until then).
    tuning: {
      partitionsConcurrently: 6,
      maxBytesPerPartition: 8 * 1_048_576,
      pipelineMaxPendingItems: 3 * env.SINK_BATCH_ROWS,
    },
    logger,
    telemetry,
    readiness: [{ name: "clickhouse", check: () => store.ping() }],
    closeStores: () => store.close(),
  });
}
