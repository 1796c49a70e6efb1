import { consoleEnvShape } from "@tollgate/console";
import { envRedisUrl } from "@tollgate/counters";
import { clickHouseEnvShape, envAdminKey, envLogLevel, envPort, envRedisKeyPrefix } from "@tollgate/kit";
import { webhookEnvShape } from "@tollgate/webhooks";
import { z } from "zod";

/** Budget engine settings; embedded mode spreads the same shape into its schema. */
export const budgetEngineEnvShape = {
  /** With Redis unreachable or slower than REDIS_COMMAND_TIMEOUT_MS: allow (open) or deny (closed); a budget may override. */
  TOLLGATE_FAILURE_POLICY: z.enum(["open", "closed"], { error: "must be open or closed" }).default("open"),
  /** A reservation not settled or released by then frees its budget. */
  TOLLGATE_RESERVATION_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  TOLLGATE_PRICES_FILE: z.string().optional(),
};

export const enforcementEnvSchema = z.object({
  ENFORCEMENT_PORT: envPort(8080),
  ENFORCEMENT_HOST: z.string().default("0.0.0.0"),
  /** One server (redis://, rediss://) or a cluster (redis+cluster://host:port,host:port,…). */
  REDIS_URL: envRedisUrl,
  REDIS_KEY_PREFIX: envRedisKeyPrefix,
  /** A decision must never hang on Redis: every command gives up after this. */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(5).max(10_000).default(250),
  ...clickHouseEnvShape,
  TOLLGATE_ADMIN_KEY: envAdminKey,
  ...budgetEngineEnvShape,
  ...webhookEnvShape,
  ...consoleEnvShape,
  LOG_LEVEL: envLogLevel,
});
