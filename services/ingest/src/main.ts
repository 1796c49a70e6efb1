import { KeyStore } from "@tollgate/auth";
import { createKafka, createKafkaPublisher } from "@tollgate/bus";
import {
  closeServer,
  createHttpApp,
  createLifecycle,
  createLogger,
  finishHttpApp,
  listen,
  parseEnv,
  portOf,
  type Telemetry,
  withDirectRoutes,
} from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { openServerStore } from "@tollgate/sql";
import { ingestEnvSchema } from "./env";
import { createIngestRoutes } from "./service";

/** Distributed mode: ingest as its own process, publishing to Kafka. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(ingestEnvSchema);
  const logger = createLogger("ingest", env.LOG_LEVEL);
  const lifecycle = createLifecycle(logger);
  lifecycle.handleSignals();

  const prices = loadPriceTable(env.TOLLGATE_PRICES_FILE ? { overridesFile: env.TOLLGATE_PRICES_FILE } : {});
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  const keys = new KeyStore(store, env.TOLLGATE_ADMIN_KEY);
  await keys.start();
  const publisher = await createKafkaPublisher(
    createKafka({ clientId: "tollgate-ingest", brokers: env.KAFKA_BROKERS, logger }),
  );

  const app = createHttpApp({
    logger,
    isShuttingDown: () => lifecycle.shuttingDown,
    readiness: [
      { name: "kafka", check: () => publisher.ready() },
      { name: "clickhouse", check: () => store.ping() },
    ],
    metricsHandler: (req, res) => telemetry.metricsHandler(req, res),
  });
  const ingest = createIngestRoutes({ publisher, keys, prices, logger, limits: env });
  app.use(ingest.router);
  finishHttpApp(app, logger);
  const server = await listen(withDirectRoutes(app, ingest.direct, logger), env.INGEST_PORT, env.INGEST_HOST);
  logger.info({ port: portOf(server) }, "ingest listening");

  // Stated order: not ready → stop taking requests (in-flight ones finish and
  // are published) → close the producer → close the stores → telemetry.
  lifecycle.onShutdown("http", () => closeServer(server));
  lifecycle.onShutdown("kafka producer", () => publisher.close());
  lifecycle.onShutdown("keys", () => keys.stop());
  lifecycle.onShutdown("clickhouse", () => store.close());
  lifecycle.onShutdown("telemetry", () => telemetry.shutdown());
}
