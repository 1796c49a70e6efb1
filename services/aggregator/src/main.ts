import { BudgetStore, createBudgetEngine, createRedisLedger, TierStore } from "@tollgate/budgets";
import { CONSUMER_GROUPS, createAlertPublisher, createKafka, runConsumerService } from "@tollgate/bus";
import { createKeyBuilder, createRedisCounterStore } from "@tollgate/counters";
import { createLogger, parseEnv, type Telemetry } from "@tollgate/kit";
import { openServerStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { aggregatorEnvSchema } from "./env";
import { startRebuildGuard } from "./rebuild";
import { createAggregatorHandler } from "./service";

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
  await Promise.all([budgets.start(), tiers.start()]);
  // Only applyEvent is used here: no prices or failure policy (those are enforcement's).
  const engine = createBudgetEngine({
    budgets,
    tiers,
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
    attach: (loop, kafka) => startRebuildGuard({ loop, kafka, redis, keys, store, counters, engine, budgets, logger }),
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
      await redis.quit();
      await store.close();
    },
  });
}
