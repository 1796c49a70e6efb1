import { countingEnvShape } from "@tollgate/budgets";
import { consoleEnvShape } from "@tollgate/console";
import { budgetEngineEnvShape } from "@tollgate/enforcement";
import { ingestLimitsEnvShape } from "@tollgate/ingest";
import { envLogLevel, envPort } from "@tollgate/kit";
import { webhookEnvShape } from "@tollgate/webhooks";
import { z } from "zod";

export const embeddedEnvSchema = z.object({
  /** Where chDB keeps the analytics store (and the generated admin key). */
  TOLLGATE_DATA_DIR: z.string().min(1).default(".tollgate/data"),
  /** Embedded mode is a local tool: loopback unless told otherwise. */
  TOLLGATE_HOST: z.string().default("127.0.0.1"),
  INGEST_PORT: envPort(4318),
  ENFORCEMENT_PORT: envPort(8080),
  REPORTS_PORT: envPort(8081),
  /** Optional here: without it a key is generated once and kept in the data dir. */
  TOLLGATE_ADMIN_KEY: z.string().min(24, { error: "must be at least 24 characters" }).optional(),
  ...ingestLimitsEnvShape,
  ...budgetEngineEnvShape,
  ...countingEnvShape,
  ...webhookEnvShape,
  ...consoleEnvShape,
  LOG_LEVEL: envLogLevel,
});
export type EmbeddedEnv = z.infer<typeof embeddedEnvSchema>;
