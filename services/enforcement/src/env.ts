import { clickHouseEnvShape, envAdminKey, envLogLevel, envPort, envRedisKeyPrefix, envUrl } from "@tollgate/kit";
import { z } from "zod";

export const enforcementEnvSchema = z.object({
  ENFORCEMENT_PORT: envPort(8080),
  ENFORCEMENT_HOST: z.string().default("0.0.0.0"),
  REDIS_URL: envUrl(["redis", "rediss"]),
  REDIS_KEY_PREFIX: envRedisKeyPrefix,
  /** A decision must never hang on Redis: every command gives up after this. */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(5).max(10_000).default(250),
  ...clickHouseEnvShape,
  TOLLGATE_ADMIN_KEY: envAdminKey,
  LOG_LEVEL: envLogLevel,
});
