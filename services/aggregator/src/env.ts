import { clickHouseEnvShape, envBrokers, envLogLevel, envPort, envRedisKeyPrefix, envUrl } from "@tollgate/kit";
import { z } from "zod";

export const aggregatorEnvSchema = z.object({
  AGGREGATOR_PORT: envPort(9101),
  AGGREGATOR_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  REDIS_URL: envUrl(["redis", "rediss"]),
  REDIS_KEY_PREFIX: envRedisKeyPrefix,
  /** Budget definitions live in ClickHouse. */
  ...clickHouseEnvShape,
  LOG_LEVEL: envLogLevel,
});
