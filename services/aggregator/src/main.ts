import { BudgetStore, createBudgetEngine, createRedisLedger, GrantStore, TierStore } from "@tollgate/budgets";
import { CONSUMER_GROUPS, createAlertPublisher, createKafka, runConsumerService } from "@tollgate/bus";
import { createKeyBuilder, createRedisCounterStore } from "@tollgate/counters";
import { createLogger, parseEnv, type Telemetry } from "@tollgate/kit";
import { openServerStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { aggregatorEnvSchema } from "./env";
import { startRebuildGuard } from "./rebuild";
import { createAggregatorHandler } from "./service";
import { startWebhookDispatch } from "./webhooks";

/** Distributed mode: consume tollgate.usage.v1 into Redis counters. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(aggregatorEnvSchema);
  const logger = createLogger("aggregator", env.LOG_LEVEL);
  // Unlike enforcement, the aggregator may wait for Redis: a failed write is
  // retried by the consume loop and nothing is committed meanwhile.
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
  const keys = createKeyBuilder(env.REDIS_KEY_PREFIX);
  const counters = createRedisCounterStore(redis, keys);
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  const budgets = new BudgetStore(store);
  const tiers = new TierStore(store);
  // Grants too: an alert's limit is the effective one (grants included), as enforcement decides on.
  const grants = new GrantStore(store);
  await Promise.all([budgets.start(), tiers.start(), grants.start()]);
  // Only applyEvent is used here: no prices or failure policy (those are enforcement's).
  const engine = createBudgetEngine({
    budgets,
    tiers,
    grants,
    ledger: createRedisLedger(redis, keys.budgetHolds),
    keys,
    price: () => null,
    reservationTtlMs: 0,
    failurePolicy: "closed",
  });
  const alerts = await createAlertPublisher(
    createKafka({ clientId: "tollgate-aggregator-alerts", brokers: env.KAFKA_BROKERS, logger }),
  );
  await runConsumerService({
    name: "aggregator",
    groupId: CONSUMER_GROUPS.aggregator,
    brokers: env.KAFKA_BROKERS,
    port: env.AGGREGATOR_PORT,
    host: env.AGGREGATOR_HOST,
    handle: createAggregatorHandler(counters, engine, (sent) => alerts.publish(sent)),
    attach: (loop, kafka) => {
      const guard = startRebuildGuard({ loop, kafka, redis, keys, store, counters, engine, budgets, logger });
      const webhookKey = env.TOLLGATE_WEBHOOK_SECRET_KEY ?? env.TOLLGATE_ADMIN_KEY;
      if (!env.AGGREGATOR_WEBHOOKS || !webhookKey) {
        if (env.AGGREGATOR_WEBHOOKS)
          logger.warn("webhooks off: neither TOLLGATE_WEBHOOK_SECRET_KEY nor TOLLGATE_ADMIN_KEY is set");
        return guard;
      }
      const webhooks = startWebhookDispatch({ kafka, sql: store, env, adminKey: webhookKey, budgets, logger });
      // A dispatcher that cannot start (Kafka, ClickHouse) must not go unnoticed: the process exits and is restarted.
      webhooks.catch((err: unknown) => {
        logger.fatal({ err }, "webhook dispatcher failed to start");
        process.exit(1);
      });
      return {
        async stop() {
          await (await webhooks).stop();
          await guard.stop();
        },
      };
    },
    logger,
    telemetry,
    readiness: [
      { name: "redis", check: () => counters.ping() },
      { name: "clickhouse", check: () => store.ping() },
    ],
    closeStores: async () => {
      await alerts.close();
      budgets.stop();
      tiers.stop();
      grants.stop();
      await redis.quit();
      await store.close();
    },
  });
}
