import { clickHouseEnvShape, envBrokers, envLogLevel, envPort } from "@tollgate/kit";
import { z } from "zod";

export const sinkEnvSchema = z.object({
  SINK_PORT: envPort(9102),
  SINK_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  ...clickHouseEnvShape,
  /** Rows per ClickHouse insert at most. */
  SINK_BATCH_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(50_000),
  /** How long a batch that is not full waits for more rows before it is inserted. */
  SINK_LINGER_MS: z.coerce.number().int().min(0).max(60_000).default(50),
  LOG_LEVEL: envLogLevel,
});
