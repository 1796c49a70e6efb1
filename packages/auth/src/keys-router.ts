import { DEFAULT_TAG_FIELDS, fromZodIssues, identifier, requireUtf8Body, text } from "@tollgate/events";
import express, { type Router } from "express";
import { z } from "zod";
import { batchLists, batchStatus, type ItemRejection, itemRejection, type Refusal } from "./batch";
import type { ApiKeyRecord, CreateKeyInput, KeyStore, Principal } from "./key-store";
import { authenticate, principalOf, requireRole } from "./middleware";
import { listPageQuerySchema, pageRange, SortedViews } from "./pages";
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

/** At most this many keys per POST /v1/keys:batch. */
export const KEY_BATCH_MAX = 1_000;

/**
 * The path of the bulk route as Express mounts it: `:` escaped, or Express
 * would read `:batch` as a parameter (`/v1/keysanything`).
 */
export const KEYS_BATCH_PATH = "/v1/keys\\:batch";

/**
 * POST /v1/keys:batch's body (the document's; the route takes each item
 * apart and decides it as POST /v1/keys does).
 */
export const keyBatchSchema = z.strictObject({
  create: z
    .array(createKeySchema)
    .min(1)
    .max(KEY_BATCH_MAX)
    .meta({ description: `Keys to create, each as the body of POST /v1/keys; at most ${KEY_BATCH_MAX}` }),
});

/** GET /v1/keys's query (also the OpenAPI document's): a page of keys, by id. */
export const keysPageQuerySchema = listPageQuerySchema(
  z.string().regex(/^[0-9a-f]{16}$/, { error: "must be a key id (16 hex digits)" }),
  "keys",
);

/** POST /v1/keys:batch's reply: the keys made (each secret shown this once), and why each other item was not. */
export interface KeyBatchReply {
  accepted: number;
  created: Array<ApiKeyRecord & { key: string; index: number }>;
  rejected: ItemRejection[];
}

/**
 * What POST /v1/keys creates for this admin, or why it may not: the one
 * rule of the single route and the batch. An org admin's keys belong to its
 * org, bound to it whether the request says so or not.
 */
function keyCreation(admin: Principal, body: unknown): { input: CreateKeyInput } | { refusal: Refusal } {
  const parsed = createKeySchema.safeParse(body);
  if (!parsed.success) {
    return { refusal: { status: 400, body: { error: "invalid_request", errors: fromZodIssues(parsed.error.issues) } } };
  }
  const input = parsed.data;
  const defaults = input.default_tags as Record<string, string>;
  const bound = input.bound_tags as Record<string, string>;
  if (input.org_id !== undefined && defaults.org_id !== undefined && input.org_id !== defaults.org_id) {
    return {
      refusal: {
        status: 400,
        body: {
          error: "invalid_request",
          errors: [{ path: "default_tags.org_id", message: "must equal org_id (a key is bound to one org)" }],
        },
      },
    };
  }
  const contradicting = boundTagConflicts(bound, defaults);
  if (contradicting.length > 0) {
    return {
      refusal: {
        status: 400,
        body: {
          error: "invalid_request",
          errors: contradicting.map((c) => ({
            path: `default_tags.${c.path}`,
            message: `must equal bound_tags.${c.path}`,
          })),
        },
      },
    };
  }
  const adminOrg = orgOf(admin);
  const org = input.org_id ?? defaults.org_id ?? adminOrg;
  if (!mayAccessOrg(admin, org)) {
    return {
      refusal: {
        status: 403,
        body: tenantRefusal([{ path: "org_id", message: `this admin key is bound to org ${adminOrg}` }]),
      },
    };
  }
  return {
    input: { role: input.role, name: input.name, org_id: org ?? null, bound_tags: bound, default_tags: defaults },
  };
}

/**
 * POST/GET /v1/keys, DELETE /v1/keys/:id and POST /v1/keys:batch, admin
 * only. The secret is shown once, at creation. An org admin makes keys of
 * its own org only (they are bound to it), and sees and revokes only those;
 * the operator all.
 */
export function keysRouter(keys: KeyStore): Router {
  const router = express.Router();
  router.use("/v1/keys", authenticate(keys), requireRole("admin"));

  router.post("/v1/keys", express.json({ limit: "16kb", verify: requireUtf8Body }), async (req, res, next) => {
    const decided = keyCreation(principalOf(res), req.body);
    if ("refusal" in decided) {
      res.status(decided.refusal.status).json(decided.refusal.body);
      return;
    }
    try {
      const { record, key } = await keys.create(decided.input);
      res.status(201).json({ ...record, key });
    } catch (err) {
      next(err);
    }
  });

  // Not under the "/v1/keys" mount above ("/v1/keys:batch" is another path): its own key and role steps.
  router.post(
    KEYS_BATCH_PATH,
    authenticate(keys),
    requireRole("admin"),
    // A thousand keys of the single route's 16 kB each would be 16 MB; real ones are a few hundred bytes.
    express.json({ limit: "2mb", verify: requireUtf8Body }),
    async (req, res, next) => {
      const batch = batchLists(req.body, ["create"], KEY_BATCH_MAX);
      if ("refusal" in batch) {
        res.status(batch.refusal.status).json(batch.refusal.body);
        return;
      }
      const admin = principalOf(res);
      const valid: Array<{ index: number; input: CreateKeyInput }> = [];
      const rejected: ItemRejection[] = [];
      batch.lists.create.forEach((item, index) => {
        const decided = keyCreation(admin, item);
        if ("refusal" in decided) rejected.push(itemRejection("create", index, undefined, decided.refusal));
        else valid.push({ index, input: decided.input });
      });
      try {
        // One insert for all of them (KeyStore.createMany), answered in the order asked.
        const made = await keys.createMany(valid.map((v) => v.input));
        const created = made.map(({ record, key }, i) => ({ index: valid[i]?.index ?? -1, ...record, key }));
        const reply: KeyBatchReply = { accepted: created.length, created, rejected };
        res.status(batchStatus(created.length)).json(reply);
      } catch (err) {
        next(err);
      }
    },
  );

  // KeyStore.records() is one array until a key changes: sorted (and cut per org) once per change.
  const sorted = new SortedViews<ApiKeyRecord>();
  router.get("/v1/keys", (req, res) => {
    const parsed = keysPageQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
      return;
    }
    const org = orgOf(principalOf(res));
    const listed = sorted.view(keys.records(), org, (k) => k.org_id === org);
    const page = pageRange(
      { length: listed.length, idAt: (i) => (listed[i] as ApiKeyRecord).id },
      parsed.data.after,
      parsed.data.limit,
    );
    res.json({ keys: listed.slice(page.from, page.to), next_after: page.nextAfter });
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
