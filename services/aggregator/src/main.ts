import { BudgetStore, createRedisLedger, GrantStore, TierStore } from "@tollgate/budgets";
import {
  CONSUMER_GROUPS,
  createAlertPublisher,
  createKafka,
  createKafkaPublisher,
  runConsumerService,
} from "@tollgate/bus";
import { connectRedis, createKeyBuilder } from "@tollgate/counters";
import { createLogger, parseEnv, type Telemetry } from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { openServerStore, TablesFollower } from "@tollgate/sql";
import { aggregatorEnvSchema } from "./env";
import { startRebuildGuard } from "./rebuild";
import { createAggregator } from "./service";
import { startUnsettledSweep } from "./unsettled";
import { startWebhookDispatch } from "./webhooks";

/** Distributed mode: consume tollgate.usage.v1 into Redis counters. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(aggregatorEnvSchema);
  const logger = createLogger("aggregator", env.LOG_LEVEL);
  // Unlike enforcement, the aggregator may wait for Redis: a failed write is
  // retried by the consume loop and nothing is committed meanwhile.
  const redis = connectRedis(env.REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
  const keys = createKeyBuilder(env.REDIS_KEY_PREFIX);
  const store = await openServerStore({
    url: env.CLICKHOUSE_URL,
    database: env.CLICKHOUSE_DATABASE,
    username: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
  });
  // One look every 500 ms for the definitions tables (see TablesFollower).
  const follow = {
    follower: new TablesFollower(store, { onError: (err) => logger.debug({ err }, "config look failed") }),
  };
  const budgets = new BudgetStore(store, follow);
  const tiers = new TierStore(store, follow);
  // Grants too: an alert's limit is the effective one (grants included), as enforcement decides on.
  const grants = new GrantStore(store, follow);
  await Promise.all([budgets.start(), tiers.start(), grants.start()]);
  const alerts = await createAlertPublisher(
    createKafka({ clientId: "tollgate-aggregator-alerts", brokers: env.KAFKA_BROKERS, logger }),
  );
  // Unsettled reservations are charged as usage events on the usage topic (unsettled.ts).
  const charges = await createKafkaPublisher(
    createKafka({ clientId: "tollgate-aggregator-charges", brokers: env.KAFKA_BROKERS, logger }),
  );
  const aggregator = createAggregator({
    ledger: createRedisLedger(redis, keys),
    keys,
    budgets,
    grants,
    tiers,
    prices: loadPriceTable(),
    env,
    publishAlerts: (sent) => alerts.publish(sent),
    logger,
  });
  await runConsumerService({
    name: "aggregator",
    groupId: CONSUMER_GROUPS.aggregator,
    brokers: env.KAFKA_BROKERS,
    port: env.AGGREGATOR_PORT,
    host: env.AGGREGATOR_HOST,
    handle: aggregator.handle,
    attach: (loop, kafka) => {
      const guard = startRebuildGuard({ loop, kafka, redis, keys, store, engine: aggregator.engine, budgets, logger });
      const sweep = startUnsettledSweep({
        engine: aggregator.engine,
        publish: (events) => charges.publish(events),
        logger,
      });
      const companions: Array<{ stop(): Promise<void> }> = [sweep, guard];
      const webhookKey = env.TOLLGATE_WEBHOOK_SECRET_KEY ?? env.TOLLGATE_ADMIN_KEY;
      if (env.AGGREGATOR_WEBHOOKS && webhookKey) {
        const webhooks = startWebhookDispatch({ kafka, sql: store, env, adminKey: webhookKey, budgets, logger });
        // A dispatcher that cannot start (Kafka, ClickHouse) must not go unnoticed: the process exits and is restarted.
        webhooks.catch((err: unknown) => {
          logger.fatal({ err }, "webhook dispatcher failed to start");
          process.exit(1);
        });
        companions.unshift({ stop: async () => (await webhooks).stop() });
      } else if (env.AGGREGATOR_WEBHOOKS) {
        logger.warn("webhooks off: neither TOLLGATE_WEBHOOK_SECRET_KEY nor TOLLGATE_ADMIN_KEY is set");
      }
      return {
        async stop() {
          for (const companion of companions) await companion.stop();
        },
      };
    },
    logger,
    telemetry,
    readiness: [
      { name: "redis", check: async () => void (await redis.ping()) },
      { name: "clickhouse", check: () => store.ping() },
    ],
    closeStores: async () => {
      await alerts.close();
      await charges.close();
      budgets.stop();
      tiers.stop();
      grants.stop();
      await redis.quit();
      await store.close();
    },
  });
}
