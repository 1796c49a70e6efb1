import { clickHouseEnvShape, envBrokers, envLogLevel, envPort } from "@tollgate/kit";
import { z } from "zod";

export const sinkEnvSchema = z.object({
  SINK_PORT: envPort(9102),
  SINK_HOST: z.string().default("0.0.0.0"),
  KAFKA_BROKERS: envBrokers,
  ...clickHouseEnvShape,
  LOG_LEVEL: envLogLevel,
});
