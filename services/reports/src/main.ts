import { KeyStore } from "@tollgate/auth";
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
} from "@tollgate/kit";
import { openServerStore } from "@tollgate/sql";
import { reportsEnvSchema } from "./env";
import { createReportsRouter } from "./service";

/** Distributed mode: reports over ClickHouse, apart from enforcement so heavy queries never slow a check. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(reportsEnvSchema);
  const logger = createLogger("reports", env.LOG_LEVEL);
  const lifecycle = createLifecycle(logger);
  lifecycle.handleSignals();
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  const keys = new KeyStore(store, env.TOLLGATE_ADMIN_KEY);
  await keys.start();
  const app = createHttpApp({
    logger,
    isShuttingDown: () => lifecycle.shuttingDown,
    readiness: [{ name: "clickhouse", check: () => store.ping() }],
    metricsHandler: (req, res) => telemetry.metricsHandler(req, res),
  });
  app.use(createReportsRouter({ store, keys }));
  finishHttpApp(app, logger);
  const server = await listen(app, env.REPORTS_PORT, env.REPORTS_HOST);
  logger.info({ port: portOf(server) }, "reports listening");

  // Stated order: not ready → HTTP closed (running queries finish) → keys → ClickHouse → telemetry.
  lifecycle.onShutdown("http", () => closeServer(server));
  lifecycle.onShutdown("keys", () => keys.stop());
  lifecycle.onShutdown("clickhouse", () => store.close());
  lifecycle.onShutdown("telemetry", () => telemetry.shutdown());
}
