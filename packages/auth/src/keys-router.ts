import { DEFAULT_TAG_FIELDS, fromZodIssues, identifier, requireUtf8Body, text } from "@tollgate/events";
import express, { type Router } from "express";
import { z } from "zod";
import type { KeyStore } from "./key-store";
import { authenticate, principalOf, requireRole } from "./middleware";
import { ROLES } from "./secrets";
import { BINDABLE_TAGS, boundTagConflicts, mayAccessOrg, orgOf, tenantRefusal } from "./tenancy";

const tagValue = identifier;

/** POST /v1/keys's body (also the OpenAPI document's). */
export const createKeySchema = z.strictObject(
  {
    role: z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }),
    name: text({ max: 128 }),
    org_id: tagValue.optional(),
    bound_tags: z
      .strictObject(Object.fromEntries(BINDABLE_TAGS.map((f) => [f, tagValue.optional()])), {
        error: `may only hold ${BINDABLE_TAGS.join(", ")}`,
      })
      .default({}),
    default_tags: z
      .strictObject(Object.fromEntries(DEFAULT_TAG_FIELDS.map((f) => [f, tagValue.optional()])), {
        error: `may only hold ${DEFAULT_TAG_FIELDS.join(", ")}`,
      })
      .default({}),
  },
  { error: "must be a JSON object" },
);

/**
 * POST/GET /v1/keys and DELETE /v1/keys/:id, admin only. The secret is shown
 * once, at creation. An org admin makes keys of its own org only (they are
 * bound to it), and sees and revokes only those; the operator all.
 */
export function keysRouter(keys: KeyStore): Router {
  const router = express.Router();
  router.use("/v1/keys", authenticate(keys), requireRole("admin"));

  router.post("/v1/keys", express.json({ limit: "16kb", verify: requireUtf8Body }), async (req, res, next) => {
    const parsed = createKeySchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const input = parsed.data;
    const defaults = input.default_tags as Record<string, string>;
    const bound = input.bound_tags as Record<string, string>;
    if (input.org_id !== undefined && defaults.org_id !== undefined && input.org_id !== defaults.org_id) {
      res.status(400).json({
        error: "invalid_request",
        errors: [{ path: "default_tags.org_id", message: "must equal org_id (a key is bound to one org)" }],
      });
      return;
    }
    const contradicting = boundTagConflicts(bound, defaults);
    if (contradicting.length > 0) {
      res.status(400).json({
        error: "invalid_request",
        errors: contradicting.map((c) => ({
          path: `default_tags.${c.path}`,
          message: `must equal bound_tags.${c.path}`,
        })),
      });
      return;
    }
    // An org admin's keys belong to its org: bound to it whether the request says so or not.
    const admin = principalOf(res);
    const adminOrg = orgOf(admin);
    const org = input.org_id ?? defaults.org_id ?? adminOrg;
    if (!mayAccessOrg(admin, org)) {
      res.status(403).json(tenantRefusal([{ path: "org_id", message: `this admin key is bound to org ${adminOrg}` }]));
      return;
    }
    try {
      const { record, key } = await keys.create({
        role: input.role,
        name: input.name,
        org_id: org ?? null,
        bound_tags: bound,
        default_tags: defaults,
      });
      res.status(201).json({ ...record, key });
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/keys", (_req, res) => {
    res.json({ keys: keys.list(orgOf(principalOf(res))) });
  });

  router.delete("/v1/keys/:id", async (req, res, next) => {
    try {
      const id = req.params.id as string;
      // Another org's key answers as a missing one: an org admin learns nothing of it.
      const record = await keys.get(id);
      if (record && mayAccessOrg(principalOf(res), record.org_id) && (await keys.revoke(id))) {
        res.status(204).end();
      } else res.status(404).json({ error: "not_found", message: `no live key with id ${id}` });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
