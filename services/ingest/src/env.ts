import { clickHouseEnvShape, envAdminKey, envBrokers, envLogLevel, envPort } from "@tollgate/kit";
import { z } from "zod";

/** Limits of the report routes; embedded mode spreads the same shape into its schema. */
export const ingestLimitsEnvShape = {
  TOLLGATE_PRICES_FILE: z.string().optional(),
  INGEST_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  INGEST_MAX_BATCH: z.coerce.number().int().min(1).max(10_000).default(1_000),
  /** Report requests in progress at once; beyond it 429 + Retry-After (memory ≤ this × body limit). */
  INGEST_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(100_000).default(256),
  /** How long a request may wait for the bus before it is answered 503 + Retry-After. */
  INGEST_PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
};

export const ingestEnvSchema = z.object({
  INGEST_PORT: envPort(4318),
  INGEST_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  ...clickHouseEnvShape,
  TOLLGATE_ADMIN_KEY: envAdminKey,
  ...ingestLimitsEnvShape,
  LOG_LEVEL: envLogLevel,
});
export type IngestEnv = z.infer<typeof ingestEnvSchema>;
export type IngestLimits = Pick<
  IngestEnv,
  "INGEST_BODY_LIMIT_BYTES" | "INGEST_MAX_BATCH" | "INGEST_MAX_IN_FLIGHT" | "INGEST_PUBLISH_TIMEOUT_MS"
>;
