import { z } from "zod";

/** The console's settings, added to the env schema of each service that serves it (enforcement, embedded). */
export const consoleEnvShape = {
  /** A signed-in browser left alone this long must sign in again. */
  TOLLGATE_CONSOLE_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(10).max(86_400).default(1_800),
  /** However busy, a session ends this long after sign-in. */
  TOLLGATE_CONSOLE_ABSOLUTE_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(10)
    .max(30 * 86_400)
    .default(43_200),
};
