import { DEFAULT_TAG_FIELDS, fromZodIssues } from "@tollgate/events";
import express, { type Router } from "express";
import { z } from "zod";
import type { KeyStore } from "./key-store";
import { authenticate, requireRole } from "./middleware";
import { ROLES } from "./secrets";

const tagValue = z
  .string()
  .trim()
  .min(1, { error: "must not be empty" })
  .max(256, { error: "must be at most 256 characters" });

const createKeySchema = z.strictObject(
  {
    role: z.enum(ROLES, { error: `must be one of ${ROLES.join(", ")}` }),
    name: z
      .string()
      .trim()
      .min(1, { error: "must not be empty" })
      .max(128, { error: "must be at most 128 characters" }),
    default_tags: z
      .strictObject(Object.fromEntries(DEFAULT_TAG_FIELDS.map((f) => [f, tagValue.optional()])), {
        error: `may only hold ${DEFAULT_TAG_FIELDS.join(", ")}`,
      })
      .default({}),
  },
  { error: "must be a JSON object" },
);

/** POST/GET /v1/keys and DELETE /v1/keys/:id, admin only. The secret is shown once, at creation. */
export function keysRouter(keys: KeyStore): Router {
  const router = express.Router();
  router.use("/v1/keys", authenticate(keys), requireRole("admin"));

  router.post("/v1/keys", express.json({ limit: "16kb" }), async (req, res, next) => {
    const parsed = createKeySchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    try {
      const { record, key } = await keys.create({
        role: parsed.data.role,
        name: parsed.data.name,
        default_tags: parsed.data.default_tags as Record<string, string>,
      });
      res.status(201).json({ ...record, key });
    } catch (err) {
      next(err);
    }
  });

  router.get("/v1/keys", (_req, res) => {
    res.json({ keys: keys.list() });
  });

  router.delete("/v1/keys/:id", async (req, res, next) => {
    try {
      if (await keys.revoke(req.params.id as string)) res.status(204).end();
      else res.status(404).json({ error: "not_found", message: `no live key with id ${req.params.id}` });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
