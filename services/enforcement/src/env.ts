import { envAdminKey, envLogLevel, envPort, envUrl } from "@tollgate/kit";
import { z } from "zod";

export const enforcementEnvSchema = z.object({
  ENFORCEMENT_PORT: envPort(8080),
  ENFORCEMENT_HOST: z.string().default("0.0.0.0"),
  REDIS_URL: envUrl(["redis", "rediss"]),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: "may hold only letters, digits, _ . -" })
    .default("tg"),
  /** A decision must never hang on Redis: every command gives up after this. */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(5).max(10_000).default(250),
  CLICKHOUSE_URL: envUrl(["http", "https"]),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a plain identifier" })
    .default("tollgate"),
  CLICKHOUSE_USER: z.string().default("default"),
  CLICKHOUSE_PASSWORD: z.string().default(""),
  TOLLGATE_ADMIN_KEY: envAdminKey,
  LOG_LEVEL: envLogLevel,
});
