import { z } from "zod";

/** Settings of the counting path (BudgetEngine.count); the aggregator and embedded mode spread it into their schemas. */
export const countingEnvShape = {
  /**
   * How long a counted event_id is remembered, so that a report sent again
   * (an agent's or a producer's retry) is not counted twice; replays of the
   * log are recognised by their offsets, however late. Memory grows with
   * events per second × this (docs/operations.md).
   */
  TOLLGATE_DEDUPE_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .default(3_600),
};
