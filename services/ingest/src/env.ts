import { clickHouseEnvShape, envAdminKey, envBrokers, envLogLevel, envPort } from "@tollgate/kit";
import { z } from "zod";

export const ingestEnvSchema = z.object({
  INGEST_PORT: envPort(4318),
  INGEST_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  ...clickHouseEnvShape,
  TOLLGATE_ADMIN_KEY: envAdminKey,
  TOLLGATE_PRICES_FILE: z.string().optional(),
  INGEST_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  INGEST_MAX_BATCH: z.coerce.number().int().min(1).max(10_000).default(1_000),
  LOG_LEVEL: envLogLevel,
});
export type IngestEnv = z.infer<typeof ingestEnvSchema>;
