import { randomUUID } from "node:crypto";
import { DefinitionStore, type DefinitionStoreOptions } from "@tollgate/budgets";
import { text } from "@tollgate/events";
import type { SqlStore } from "@tollgate/sql";
import { z } from "zod";
import { generateWebhookSecret, type SecretCipher } from "./secrets";

export const EVENT_TYPES = ["budget.threshold_reached", "budget.exhaustion_forecast", "webhook.test"] as const;
export type WebhookEventType = (typeof EVENT_TYPES)[number];

/** A signing secret as stored: encrypted, with the moment it stops signing (null: current). */
export interface StoredSecret {
  encrypted: string;
  created_at_ms: number;
  expires_at_ms: number | null;
}

export interface WebhookEndpoint {
  id: string;
  /** The org whose alerts it receives; null: the operator's, every org's. */
  org_id: string | null;
  url: string;
  /** Event types it receives; empty: all. */
  events: WebhookEventType[];
  description: string | null;
  format: "standard" | "slack";
  enabled: boolean;
  /** Why the dispatcher disabled it (410, the whole schedule failed); null when enabled or disabled by hand. */
  disabled_reason: string | null;
  secrets: StoredSecret[];
  created_at_ms: number;
  updated_at_ms: number;
}

const events = z.array(z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(", ")}` })).max(3);
const url = text({ max: 2048 });
const description = text({ max: 500, min: 0 }).nullable();
const format = z.enum(["standard", "slack"], { error: "must be standard or slack" });

export const endpointInputSchema = z.strictObject({
  url,
  events: events.optional(),
  description: description.optional(),
  format: format.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  org_id: text({ max: 256 }).optional(),
});
export const endpointPatchSchema = z.strictObject({
  url: url.optional(),
  events: events.optional(),
  description: description.optional(),
  format: format.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
});
export const rotateInputSchema = z.strictObject({
  /** How long the old secret keeps signing beside the new one. */
  overlap_seconds: z.number().int().min(0).max(604_800).optional(),
});

/** What the API shows: never a secret, only when each one stops signing. */
export function endpointView(endpoint: WebhookEndpoint, nowMs: number) {
  const { secrets, created_at_ms, updated_at_ms, ...rest } = endpoint;
  return {
    ...rest,
    created_at: new Date(created_at_ms).toISOString(),
    updated_at: new Date(updated_at_ms).toISOString(),
    secrets: liveSecrets(secrets, nowMs).map((s) => ({
      created_at: new Date(s.created_at_ms).toISOString(),
      expires_at: s.expires_at_ms === null ? null : new Date(s.expires_at_ms).toISOString(),
    })),
  };
}

export function liveSecrets(secrets: ReadonlyArray<StoredSecret>, nowMs: number): StoredSecret[] {
  return secrets.filter((s) => s.expires_at_ms === null || s.expires_at_ms > nowMs);
}

/** A new endpoint and its secret in clear (shown once, in the 201). */
export function newEndpoint(
  input: z.infer<typeof endpointInputSchema>,
  org: string | null,
  cipher: SecretCipher,
  nowMs: number,
): { endpoint: WebhookEndpoint; secret: string } {
  const id = `wh_${randomUUID().replaceAll("-", "")}`;
  const secret = generateWebhookSecret();
  return {
    secret,
    endpoint: {
      id,
      org_id: org,
      url: input.url,
      events: input.events ?? [],
      description: input.description ?? null,
      format: input.format ?? "standard",
      enabled: input.enabled ?? true,
      disabled_reason: null,
      secrets: [{ encrypted: cipher.encrypt(secret, id), created_at_ms: nowMs, expires_at_ms: null }],
      created_at_ms: nowMs,
      updated_at_ms: nowMs,
    },
  };
}

/**
 * Rotation: a new current secret; the old current one keeps signing until
 * now + overlap (Standard Webhooks allows several signatures in one header,
 * so a receiver holding either secret verifies during the overlap).
 */
export function rotated(
  endpoint: WebhookEndpoint,
  cipher: SecretCipher,
  overlapSeconds: number,
  nowMs: number,
): { endpoint: WebhookEndpoint; secret: string; previousExpiresAtMs: number } {
  const secret = generateWebhookSecret();
  const previousExpiresAtMs = nowMs + overlapSeconds * 1000;
  const kept = liveSecrets(endpoint.secrets, nowMs).map((s) =>
    s.expires_at_ms === null || s.expires_at_ms > previousExpiresAtMs
      ? { ...s, expires_at_ms: previousExpiresAtMs }
      : s,
  );
  return {
    secret,
    previousExpiresAtMs,
    endpoint: {
      ...endpoint,
      secrets: [
        { encrypted: cipher.encrypt(secret, endpoint.id), created_at_ms: nowMs, expires_at_ms: null },
        ...kept.filter((s) => s.expires_at_ms === null || s.expires_at_ms > nowMs),
      ],
      updated_at_ms: nowMs,
    },
  };
}

/** Webhook endpoints (table `webhook_endpoints`), refreshed like budgets: a change is seen everywhere within a second. */
export class WebhookStore extends DefinitionStore<WebhookEndpoint> {
  constructor(store: SqlStore, options: DefinitionStoreOptions = {}) {
    super(store, "webhook_endpoints", options);
  }
}
