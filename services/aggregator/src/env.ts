import { envBrokers, envLogLevel, envPort, envUrl } from "@tollgate/kit";
import { z } from "zod";

export const aggregatorEnvSchema = z.object({
  AGGREGATOR_PORT: envPort(9101),
  AGGREGATOR_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  REDIS_URL: envUrl(["redis", "rediss"]),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: "may hold only letters, digits, _ . -" })
    .default("tg"),
  LOG_LEVEL: envLogLevel,
});
