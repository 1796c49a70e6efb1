import { z } from "zod";

/**
 * Every service parses its env once, at start, with one zod schema. A bad or
 * missing variable stops the service with a message naming the variable.
 */
export class EnvError extends Error {
  constructor(readonly problems: ReadonlyArray<{ variable: string; message: string }>) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`);
    this.name = "EnvError";
  }
}

export function parseEnv<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  throw new EnvError(
    result.error.issues.map((issue) => ({
      variable: issue.path.length > 0 ? issue.path.map(String).join(".") : "(environment)",
      message: issue.message,
    })),
  );
}

/** "true"/"1"/"yes" and "false"/"0"/"no", instead of truthy strings ("false" is truthy). */
export const envBool = (defaultValue: boolean) =>
  z.preprocess(
    (value) => {
      if (value === undefined || value === "") return defaultValue;
      if (typeof value !== "string") return value;
      const lowered = value.toLowerCase();
      if (["true", "1", "yes"].includes(lowered)) return true;
      if (["false", "0", "no"].includes(lowered)) return false;
      return value;
    },
    z.boolean({ error: "must be true or false" }),
  );

export const envPort = (defaultPort: number) =>
  z.coerce
    .number()
    .int({ error: "must be an integer" })
    .min(0, { error: "must be a port number (0-65535)" })
    .max(65535, { error: "must be a port number (0-65535)" })
    .default(defaultPort);

export const envLogLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info");

export const envUrl = (protocols: ReadonlyArray<string>) =>
  z
    .url({ error: `must be a URL (${protocols.join(" or ")})` })
    .refine((value) => protocols.some((p) => value.startsWith(`${p}://`)), {
      error: `must start with ${protocols.map((p) => `${p}://`).join(" or ")}`,
    });

export const envBrokers = z
  .string({ error: "is required: comma-separated host:port list of Kafka brokers" })
  .transform((value) =>
    value
      .split(",")
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .refine((list) => list.length > 0 && list.every((b) => /^[^\s:]+:\d+$/.test(b)), {
    error: "must be a comma-separated list of host:port",
  });

/** An admin key must be long enough that guessing it is hopeless. */
export const envAdminKey = z
  .string({ error: "is required: the bootstrap admin API key" })
  .min(24, { error: "must be at least 24 characters" });

/** The ClickHouse connection every service that talks to the server shares (spread into its schema). */
export const clickHouseEnvShape = {
  CLICKHOUSE_URL: envUrl(["http", "https"]),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a plain identifier" })
    .default("tollgate"),
  CLICKHOUSE_USER: z.string().default("default"),
  CLICKHOUSE_PASSWORD: z.string().default(""),
};

/** First part of every Redis key; tests and tenants of one Redis isolate by it. */
export const envRedisKeyPrefix = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, { error: "may hold only letters, digits, _ . -" })
  .default("tg");
