import { KeyStore } from "@tollgate/auth";
import { BudgetStore, createRedisDecisionLog, createRedisLedger, GrantStore, TierStore } from "@tollgate/budgets";
import { consoleFromEnv } from "@tollgate/console";
import { createRedisSessionStore } from "@tollgate/console/redis";
import { connectRedis, createKeyBuilder, watchCountersState } from "@tollgate/counters";
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
import { createReportsRouter } from "@tollgate/reports";
import { openServerStore, TablesFollower } from "@tollgate/sql";
import { openWebhookParts } from "@tollgate/webhooks";
import { enforcementEnvSchema } from "./env";
import { createEnforcement } from "./service";

/** Distributed mode: enforcement reads the Redis counters the aggregator writes. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(enforcementEnvSchema);
  const logger = createLogger("enforcement", env.LOG_LEVEL);
  const lifecycle = createLifecycle(logger);
  lifecycle.handleSignals();

  // No offline queue and a short command timeout: with Redis down or slow a
  // decision never waits; it follows the failure policy (TOLLGATE_FAILURE_POLICY,
  // or the budget's own) and says so in its reason.
  const redis = connectRedis(env.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: env.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 1_000,
  });
  redis.on("error", (err) => logger.warn({ err: err.message }, "redis error"));
  const redisKeys = createKeyBuilder(env.REDIS_KEY_PREFIX);
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  const keys = new KeyStore(store, env.TOLLGATE_ADMIN_KEY);
  await keys.start();
  // One look every 500 ms for all four definitions tables (see TablesFollower).
  const follow = {
    follower: new TablesFollower(store, { onError: (err) => logger.debug({ err }, "config look failed") }),
  };
  const budgets = new BudgetStore(store, follow);
  const grants = new GrantStore(store, follow);
  const tiers = new TierStore(store, follow);
  await Promise.all([budgets.start(), grants.start(), tiers.start()]);
  // The API only writes endpoints and schedules test and replay deliveries; the aggregator's dispatcher sends them.
  const webhooks = await openWebhookParts(store, env, env.TOLLGATE_ADMIN_KEY, follow);
  const countersState = watchCountersState(redis, redisKeys);
  const prices = loadPriceTable(env.TOLLGATE_PRICES_FILE ? { overridesFile: env.TOLLGATE_PRICES_FILE } : {});
  const enforcement = createEnforcement({
    stores: {
      ledger: createRedisLedger(redis, redisKeys),
      redisKeys,
      keys,
      budgets,
      grants,
      tiers,
      webhooks,
      // Every instance's denials in one capped stream per tenant: the console's Overview shows them all.
      decisions: createRedisDecisionLog(redis, redisKeys, { logger }),
    },
    prices,
    env,
    trusted: countersState.complete,
    logger,
  });

  const app = createHttpApp({
    logger,
    isShuttingDown: () => lifecycle.shuttingDown,
    readiness: [
      { name: "redis", check: async () => void (await redis.ping()) },
      { name: "clickhouse", check: () => store.ping() },
    ],
    metricsHandler: (req, res) => telemetry.metricsHandler(req, res),
  });
  const router = enforcement.router;
  // The console (packages/console/README.md): sessions in Redis, so any enforcement instance serves any browser.
  app.use(
    consoleFromEnv(env, {
      keys,
      sessions: createRedisSessionStore(redis, env.REDIS_KEY_PREFIX),
      api: [router, createReportsRouter({ store, keys })],
    }),
  );
  app.use(router);
  finishHttpApp(app, logger);
  const server = await listen(
    withDirectRoutes(app, enforcement.direct, logger),
    env.ENFORCEMENT_PORT,
    env.ENFORCEMENT_HOST,
  );
  logger.info({ port: portOf(server) }, "enforcement listening");

  lifecycle.onShutdown("http", () => closeServer(server));
  lifecycle.onShutdown("keys and budgets", () => {
    countersState.stop();
    keys.stop();
    for (const definitions of [budgets, grants, tiers, webhooks.endpoints]) definitions.stop();
  });
  lifecycle.onShutdown("redis", async () => {
    await redis.quit();
  });
  lifecycle.onShutdown("clickhouse", () => store.close());
  lifecycle.onShutdown("telemetry", () => telemetry.shutdown());
}
