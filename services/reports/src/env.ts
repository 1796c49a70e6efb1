import { clickHouseEnvShape, envAdminKey, envLogLevel, envPort } from "@tollgate/kit";
import { z } from "zod";

export const reportsEnvSchema = z.object({
  REPORTS_PORT: envPort(8081),
  REPORTS_HOST: z.string().default("0.0.0.0"),
  ...clickHouseEnvShape,
  TOLLGATE_ADMIN_KEY: envAdminKey,
  LOG_LEVEL: envLogLevel,
});
