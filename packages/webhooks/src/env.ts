import { envBool } from "@tollgate/kit";
import { z } from "zod";

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "5s" → 5000; null when it is not a duration (a number and one of ms, s, m, h, d). */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The Standard Webhooks reference schedule (Svix's): about a day and a half in all. */
export const DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,14h,20h,24h";

/**
 * Webhook settings; enforcement (the API), the aggregator (the dispatcher)
 * and embedded mode spread the same shape into their schemas.
 */
export const webhookEnvShape = {
  /** Delays before the 2nd, 3rd, … attempt; after the last one fails the endpoint is disabled. */
  TOLLGATE_WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default(DEFAULT_RETRY_SCHEDULE)
    .transform((value, ctx) => {
      const parts = value.split(",").map((part) => parseDuration(part));
      if (parts.length === 0 || parts.length > 20 || parts.some((ms) => ms === null || ms > 7 * UNIT_MS.d)) {
        ctx.addIssue({
          code: "custom",
          message: "must be 1-20 comma-separated durations such as 5s,5m,2h (units ms, s, m, h, d; each at most 7d)",
        });
        return z.NEVER;
      }
      return parts as number[];
    }),
  /** Plain-HTTP targets are refused unless this is true (a signed body in clear text still leaks). */
  TOLLGATE_WEBHOOK_ALLOW_HTTP: envBool(false),
  /** Private, loopback and link-local targets are refused unless this is true (SSRF). */
  TOLLGATE_WEBHOOK_ALLOW_PRIVATE: envBool(false),
  /** One attempt's whole time (connect, send, answer); a slow endpoint costs only its own deliveries this. */
  TOLLGATE_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** How long a rotated-out secret keeps signing beside the new one, unless the rotation says otherwise. */
  TOLLGATE_WEBHOOK_ROTATION_OVERLAP_SECONDS: z.coerce.number().int().min(0).max(604_800).default(86_400),
  /**
   * The key the signing secrets are encrypted with at rest. Unset, it is
   * derived from TOLLGATE_ADMIN_KEY (then rotating the admin key makes the
   * stored secrets unreadable: set this to rotate them independently).
   */
  TOLLGATE_WEBHOOK_SECRET_KEY: z.string().min(24, { error: "must be at least 24 characters" }).optional(),
};

export interface WebhookSettings {
  retrySchedule: number[];
  allowHttp: boolean;
  allowPrivate: boolean;
  timeoutMs: number;
  rotationOverlapSeconds: number;
}

export function webhookSettings(env: {
  TOLLGATE_WEBHOOK_RETRY_SCHEDULE: number[];
  TOLLGATE_WEBHOOK_ALLOW_HTTP: boolean;
  TOLLGATE_WEBHOOK_ALLOW_PRIVATE: boolean;
  TOLLGATE_WEBHOOK_TIMEOUT_MS: number;
  TOLLGATE_WEBHOOK_ROTATION_OVERLAP_SECONDS: number;
}): WebhookSettings {
  return {
    retrySchedule: env.TOLLGATE_WEBHOOK_RETRY_SCHEDULE,
    allowHttp: env.TOLLGATE_WEBHOOK_ALLOW_HTTP,
    allowPrivate: env.TOLLGATE_WEBHOOK_ALLOW_PRIVATE,
    timeoutMs: env.TOLLGATE_WEBHOOK_TIMEOUT_MS,
    rotationOverlapSeconds: env.TOLLGATE_WEBHOOK_ROTATION_OVERLAP_SECONDS,
  };
}
