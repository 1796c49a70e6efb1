import { countingEnvShape } from "@tollgate/budgets";
import { envRedisUrl } from "@tollgate/counters";
import {
  clickHouseEnvShape,
  envAdminKey,
  envBool,
  envBrokers,
  envLogLevel,
  envPort,
  envRedisKeyPrefix,
} from "@tollgate/kit";
import { webhookEnvShape } from "@tollgate/webhooks";
import { z } from "zod";

export const aggregatorEnvSchema = z.object({
  AGGREGATOR_PORT: envPort(9101),
  AGGREGATOR_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  /** One server (redis://, rediss://) or a cluster (redis+cluster://host:port,host:port,…). */
  REDIS_URL: envRedisUrl,
  REDIS_KEY_PREFIX: envRedisKeyPrefix,
  /** Budget definitions live in ClickHouse. */
  ...clickHouseEnvShape,
  ...countingEnvShape,
  /** Run the webhook dispatcher here (one aggregator should; see webhooks.ts). */
  AGGREGATOR_WEBHOOKS: envBool(true),
  /** Only to decrypt webhook secrets when TOLLGATE_WEBHOOK_SECRET_KEY is unset; without either, webhooks are off here. */
  TOLLGATE_ADMIN_KEY: envAdminKey.optional(),
  ...webhookEnvShape,
  LOG_LEVEL: envLogLevel,
});
export type AggregatorEnv = z.infer<typeof aggregatorEnvSchema>;
