import { CONSUMER_GROUPS, runConsumerService } from "@tollgate/bus";
import { createKeyBuilder, createRedisCounterStore } from "@tollgate/counters";
import { createLogger, parseEnv, type Telemetry } from "@tollgate/kit";
import { Redis } from "ioredis";
import { aggregatorEnvSchema } from "./env";
import { createAggregatorHandler } from "./service";

/** Distributed mode: consume tollgate.usage.v1 into Redis counters. */
export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(aggregatorEnvSchema);
  const logger = createLogger("aggregator", env.LOG_LEVEL);
  // Unlike enforcement, the aggregator may wait for Redis: a failed write is
  // retried by the consume loop and nothing is committed meanwhile.
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: false });
  const counters = createRedisCounterStore(redis, createKeyBuilder(env.REDIS_KEY_PREFIX));
  await runConsumerService({
    name: "aggregator",
    groupId: CONSUMER_GROUPS.aggregator,
    brokers: env.KAFKA_BROKERS,
    port: env.AGGREGATOR_PORT,
    host: env.AGGREGATOR_HOST,
    handle: createAggregatorHandler(counters),
    logger,
    telemetry,
    readiness: [{ name: "redis", check: () => counters.ping() }],
    closeStores: async () => {
      await redis.quit();
    },
  });
}
