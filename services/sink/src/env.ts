import { envBrokers, envLogLevel, envPort, envUrl } from "@tollgate/kit";
import { z } from "zod";

export const sinkEnvSchema = z.object({
  SINK_PORT: envPort(9102),
  SINK_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  CLICKHOUSE_URL: envUrl(["http", "https"]),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a plain identifier" })
    .default("tollgate"),
  CLICKHOUSE_USER: z.string().default("default"),
  CLICKHOUSE_PASSWORD: z.string().default(""),
  LOG_LEVEL: envLogLevel,
});
