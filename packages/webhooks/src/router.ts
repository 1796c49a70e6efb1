import { randomUUID } from "node:crypto";
import {
  authenticate,
  type KeyStore,
  mayAccessOrg,
  orgOf,
  principalOf,
  requireRole,
  tenantRefusal,
} from "@tollgate/auth";
import { fromZodIssues, requireUtf8Body } from "@tollgate/events";
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import type { DeliveryLog } from "./deliveries";
import { deliveryFor, replayOf } from "./dispatcher";
import {
  endpointInputSchema,
  endpointPatchSchema,
  endpointView,
  newEndpoint,
  rotated,
  rotateInputSchema,
  type WebhookEndpoint,
  type WebhookStore,
} from "./endpoints";
import type { WebhookSettings } from "./env";
import { testMessage } from "./payload";
import type { SecretCipher } from "./secrets";
import { resolveTarget, UnresolvedHostError } from "./url-policy";

export interface WebhooksRouterDeps {
  keys: KeyStore;
  endpoints: WebhookStore;
  log: DeliveryLog;
  cipher: SecretCipher;
  settings: WebhookSettings;
  /** Embedded mode: the in-process dispatcher sends a scheduled delivery at once (distributed: its next poll). */
  scheduled?: () => void;
  clock?: () => number;
}

/** GET /v1/webhooks/{id}/deliveries's query (also the OpenAPI document's). */
export const deliveriesQuerySchema = z.object({
  limit: z.coerce.number({ error: "must be a number" }).int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^\d{1,16}:dlv_[0-9a-f]{32}$/, { error: "must be a cursor from a previous page" })
    .optional(),
});

/**
 * Webhook endpoints API (ARCHITECTURE.md "Webhooks"), admins only: an
 * admin bound to an org manages its org's endpoints (another org's answer
 * as missing, 404), the operator every org's. Mounted on the enforcement
 * service in both modes; deliveries it schedules (test, replay) are rows of
 * the durable schedule, sent by the dispatcher.
 */
export function webhooksRouter(deps: WebhooksRouterDeps): Router {
  const clock = deps.clock ?? Date.now;
  const router = express.Router();
  const body = express.json({ limit: "16kb", verify: requireUtf8Body });
  const admin = [authenticate(deps.keys), requireRole("admin")];

  const invalid = (res: Response, errors: Array<{ path: string; message: string }>) =>
    res.status(400).json({ error: "invalid_webhook", errors });
  /**
   * The URL is checked now (scheme, and where its host resolves) and again at
   * every delivery. A host that does not resolve yet is taken (DNS may follow
   * the endpoint's setup): its deliveries are checked, and retried, as they go.
   */
  const urlRefusal = async (url: string): Promise<string | null> => {
    try {
      await resolveTarget(url, deps.settings);
      return null;
    } catch (err) {
      if (err instanceof UnresolvedHostError) return null;
      return (err instanceof Error ? err.message : String(err)).replace(/^url /, "");
    }
  };
  const visible = (req: Request, res: Response): WebhookEndpoint | undefined => {
    const endpoint = deps.endpoints.get(String(req.params.id));
    if (endpoint && mayAccessOrg(principalOf(res), endpoint.org_id)) return endpoint;
    res.status(404).json({ error: "not_found", message: `no webhook ${req.params.id}` });
    return undefined;
  };

  router.post("/v1/webhooks", ...admin, body, async (req, res, next) => {
    const parsed = endpointInputSchema.safeParse(req.body);
    if (!parsed.success) return void invalid(res, fromZodIssues(parsed.error.issues));
    const principal = principalOf(res);
    const org = parsed.data.org_id ?? orgOf(principal);
    if (!mayAccessOrg(principal, org)) {
      res
        .status(403)
        .json(tenantRefusal([{ path: "org_id", message: `this admin key is bound to org ${orgOf(principal)}` }]));
      return;
    }
    const refusal = await urlRefusal(parsed.data.url);
    if (refusal) return void invalid(res, [{ path: "url", message: refusal }]);
    try {
      const { endpoint, secret } = newEndpoint(parsed.data, org, deps.cipher, clock());
      await deps.endpoints.put(endpoint);
      // The only time the secret is shown: it is stored encrypted and never logged.
      res.status(201).json({ ...endpointView(endpoint, clock()), secret });
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/webhooks", ...admin, (_req, res) => {
    const principal = principalOf(res);
    const mine = deps.endpoints.all().filter((e) => mayAccessOrg(principal, e.org_id));
    res.json({ webhooks: mine.sort((a, b) => a.created_at_ms - b.created_at_ms).map((e) => endpointView(e, clock())) });
  });

  router.get("/v1/webhooks/:id", ...admin, (req, res) => {
    const endpoint = visible(req, res);
    if (endpoint) res.json(endpointView(endpoint, clock()));
  });

  router.patch("/v1/webhooks/:id", ...admin, body, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    const parsed = endpointPatchSchema.safeParse(req.body);
    if (!parsed.success) return void invalid(res, fromZodIssues(parsed.error.issues));
    if (parsed.data.url !== undefined) {
      const refusal = await urlRefusal(parsed.data.url);
      if (refusal) return void invalid(res, [{ path: "url", message: refusal }]);
    }
    try {
      const { enabled, ...rest } = parsed.data;
      const updated: WebhookEndpoint = {
        ...endpoint,
        ...rest,
        ...(enabled === undefined ? {} : { enabled, disabled_reason: enabled ? null : endpoint.disabled_reason }),
        updated_at_ms: clock(),
      };
      await deps.endpoints.put(updated);
      res.json(endpointView(updated, clock()));
    } catch (err) {
      next(err);
    }
  });

  router.delete("/v1/webhooks/:id", ...admin, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    try {
      await deps.endpoints.delete(endpoint.id);
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });

  router.post("/v1/webhooks/:id/rotate-secret", ...admin, body, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    const parsed = rotateInputSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void invalid(res, fromZodIssues(parsed.error.issues));
    try {
      const overlap = parsed.data.overlap_seconds ?? deps.settings.rotationOverlapSeconds;
      const next = rotated(endpoint, deps.cipher, overlap, clock());
      await deps.endpoints.put(next.endpoint);
      res.json({
        ...endpointView(next.endpoint, clock()),
        secret: next.secret,
        previous_secret_expires_at: new Date(next.previousExpiresAtMs).toISOString(),
      });
    } catch (err) {
      next(err);
    }
  });

  router.post("/v1/webhooks/:id/test", ...admin, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    try {
      const nowMs = clock();
      const [delivery] = await deps.log.write([
        deliveryFor(endpoint, testMessage(endpoint.id, nowMs, randomUUID()), nowMs),
      ]);
      deps.scheduled?.();
      res.status(202).json({ delivery_id: delivery?.id, message_id: delivery?.message_id });
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/webhooks/:id/deliveries", ...admin, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    const parsed = deliveriesQuerySchema.safeParse(req.query);
    if (!parsed.success) return void invalid(res, fromZodIssues(parsed.error.issues));
    try {
      const cursor = parsed.data.cursor?.split(":");
      const page = await deps.log.page(
        endpoint.id,
        parsed.data.limit,
        cursor ? { created_ms: Number(cursor[0]), id: cursor[1] as string } : null,
      );
      const last = page.at(-1);
      res.json({
        deliveries: page.map((d) => ({
          id: d.id,
          message_id: d.message_id,
          event_type: d.event_type,
          state: d.state,
          attempts: d.attempts,
          next_attempt_at: d.state === "pending" ? new Date(d.next_attempt_ms).toISOString() : null,
          created_at: new Date(d.created_ms).toISOString(),
          payload: JSON.parse(d.payload) as unknown,
          attempt_log: d.attempt_log.map((a) => ({
            attempt: a.attempt,
            at: new Date(a.at_ms).toISOString(),
            status: a.status === 0 ? null : a.status,
            latency_ms: a.latency_ms,
            error: a.error === "" ? null : a.error,
            response: a.response,
          })),
        })),
        next_cursor: last && page.length === parsed.data.limit ? `${last.created_ms}:${last.id}` : null,
      });
    } catch (err) {
      next(err);
    }
  });

  router.post("/v1/webhooks/:id/deliveries/:delivery/replay", ...admin, async (req, res, next) => {
    const endpoint = visible(req, res);
    if (!endpoint) return;
    try {
      const original = await deps.log.get(endpoint.id, String(req.params.delivery));
      if (!original) {
        res
          .status(404)
          .json({ error: "not_found", message: `no delivery ${req.params.delivery} of webhook ${endpoint.id}` });
        return;
      }
      if (!endpoint.enabled) {
        res
          .status(409)
          .json({ error: "conflict", message: `webhook ${endpoint.id} is disabled; enable it (PATCH) first` });
        return;
      }
      const [replay] = await deps.log.write([replayOf(original, clock())]);
      deps.scheduled?.();
      res.status(202).json({ delivery_id: replay?.id, message_id: replay?.message_id, replay_of: original.id });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
