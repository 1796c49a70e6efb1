import {
  createKeySchema,
  KEY_BATCH_MAX,
  KEYS_BATCH_PATH,
  keyBatchSchema,
  keysPageQuerySchema,
  LIST_PAGE_MAX,
  nextAfterSchema,
} from "@tollgate/auth";
import { BUDGET_BATCH_MAX, BUDGET_ID, budgetInputSchema, grantInputSchema, tierInputSchema } from "@tollgate/budgets";
import { identifier } from "@tollgate/events";
import { type ApiRoute, forbiddenSchema, invalidRequestSchema, openApiDocument, refusalSchema } from "@tollgate/kit";
import { deliveriesQuerySchema, endpointInputSchema, endpointPatchSchema, rotateInputSchema } from "@tollgate/webhooks";
import { z } from "zod";
import {
  budgetBatchReplySchema,
  budgetSchema,
  checkResultSchema,
  createdKeySchema,
  createdWebhookSchema,
  deliveriesPageSchema,
  grantSchema,
  keyBatchReplySchema,
  keyRecordSchema,
  rotatedWebhookSchema,
  scheduledDeliverySchema,
  tierAssignmentSchema,
  usageResultSchema,
  webhookSchema,
} from "./api-schemas";
import { BUDGETS_BATCH_PATH, budgetsPageQuerySchema } from "./budgets-route";
import { checkSchema } from "./check-route";
import { decisionsApiRoute } from "./decisions-api";
import { usageQuerySchema } from "./usage-route";

// `@tollgate/enforcement/api`: the schemas of the document, for the SDK's wire-type test.
export * from "./api-schemas";
export { checkSchema, usageQuerySchema };

/**
 * Enforcement's routes, each with the schemas it validates with and answers
 * in: the source of its OpenAPI document (GET /openapi.json). api.test.ts
 * holds this list to what the router serves, both ways.
 */

const invalid = (description = "Invalid input: each field and why") => ({ description, schema: invalidRequestSchema });
const refused = (description: string) => ({ description, schema: refusalSchema });
const notFound = refused("Unknown, or another org's (answered as missing)");
const tenantRefused = {
  description: "The key's role may not call this route, or the request names a value the key is bound away from",
  schema: forbiddenSchema,
};
const tooLarge = refused("The body exceeds its limit");
const unavailable = refused("Budget counters unavailable; retry after Retry-After");

const budgetId = z.object({ id: z.string().regex(BUDGET_ID) });

/** What GET /v1/budgets and GET /v1/keys say of their pages. */
const paged = (what: string) =>
  `In id order. Page with \`limit\` (1–${LIST_PAGE_MAX}) and \`after\` (the previous page's \`next_after\`) until ` +
  `\`next_after\` is null. Without \`limit\` every one of the ${what} is answered at once, as before pages ` +
  "existed: clients should page, a list may hold 100,000.";

/**
 * POST /v1/budgets:batch's body. The route takes each item apart and decides
 * it as PUT and DELETE /v1/budgets/{id} do (budgets-route.ts), so one bad
 * item is refused alone.
 */
export const budgetBatchSchema = z.strictObject({
  upsert: z
    .array(budgetInputSchema.safeExtend({ id: z.string().regex(BUDGET_ID) }))
    .optional()
    .meta({ description: "Budgets to create or replace: each the body of PUT /v1/budgets/{id} with its `id`" }),
  delete: z.array(z.string()).optional().meta({ description: "Ids of budgets to delete" }),
});

/** What a bulk route answers besides its 200. */
const batchAnswers = (max: number, reply: z.ZodType) => ({
  400: {
    description: "No item was applied (the same reply), or the body is not a batch",
    content: { "application/json": z.union([reply, invalidRequestSchema]) },
  },
  413: refused(`More than ${max} items, or the body exceeds 2 MB`),
});
const userParam = z.object({ user: identifier });
const orgQuery = z.object({ org_id: identifier.optional() });

const checkRoutes: ApiRoute[] = [
  {
    method: "post",
    path: "/v1/check",
    summary: "May this subject spend about this much now? (reserve=true holds the estimate)",
    description:
      "Evaluates every matching budget; the strictest decision wins. `messages` (OpenAI or Anthropic shape) or " +
      "`prompt` may replace `input_tokens`: the reply then states the `input_tokens` it counted.",
    auth: ["agent"],
    body: checkSchema,
    responses: {
      200: { description: "The decision", schema: checkResultSchema },
      400: invalid(),
      403: tenantRefused,
      413: tooLarge,
    },
  },
  {
    method: "delete",
    path: "/v1/reservations/:id",
    summary: "Release a reservation",
    auth: ["agent"],
    responses: {
      204: { description: "Released" },
      404: refused("Not held (settled, released, expired or unknown)"),
      503: unavailable,
    },
  },
  {
    method: "get",
    path: "/v1/usage",
    summary: "Budget standings and running totals of the identities named",
    description: "Name at least one identity besides org_id. An agent key reads only the identities it acts for.",
    auth: ["agent", "viewer"],
    query: usageQuerySchema,
    responses: {
      200: { description: "Standings and totals", schema: usageResultSchema },
      400: invalid(),
      403: tenantRefused,
      503: unavailable,
    },
  },
];

const keyRoutes: ApiRoute[] = [
  {
    method: "post",
    path: "/v1/keys",
    summary: "Create a key (the secret is shown once)",
    auth: ["admin"],
    body: createKeySchema,
    responses: { 201: { description: "Created", schema: createdKeySchema }, 400: invalid(), 403: tenantRefused },
  },
  {
    method: "post",
    path: KEYS_BATCH_PATH,
    summary: `Create many keys at once (at most ${KEY_BATCH_MAX}; each secret is shown once)`,
    description:
      "Each item is decided as POST /v1/keys decides it; the valid ones are created in one write. 200 when at " +
      "least one key was created: `created` (each with its `index` and secret `key`) and `rejected` (each item " +
      "refused, with the status, error and field errors its single POST would have answered). 400 (the same " +
      "reply) when none was.",
    auth: ["admin"],
    body: keyBatchSchema,
    responses: {
      200: { description: "At least one key created", schema: keyBatchReplySchema },
      ...batchAnswers(KEY_BATCH_MAX, keyBatchReplySchema),
    },
  },
  {
    method: "get",
    path: "/v1/keys",
    summary: "List the keys (an org admin: its org's), a page at a time",
    description: paged("keys"),
    auth: ["admin"],
    query: keysPageQuerySchema,
    responses: {
      200: {
        description: "A page of keys",
        schema: z.object({ keys: z.array(keyRecordSchema), next_after: nextAfterSchema }),
      },
      400: invalid("Invalid parameters: each and why"),
    },
  },
  {
    method: "delete",
    path: "/v1/keys/:id",
    summary: "Revoke a key",
    auth: ["admin"],
    responses: { 204: { description: "Revoked" }, 404: notFound },
  },
];

const budgetRoutes: ApiRoute[] = [
  {
    method: "put",
    path: "/v1/budgets/:id",
    summary: "Create or replace a budget",
    auth: ["admin"],
    params: budgetId,
    body: budgetInputSchema,
    responses: {
      200: { description: "Replaced", schema: budgetSchema },
      201: { description: "Created", schema: budgetSchema },
      400: invalid(),
      403: tenantRefused,
      409: refused("The id is taken by another org's budget"),
    },
  },
  {
    method: "post",
    path: BUDGETS_BATCH_PATH,
    summary: `Create, replace and delete many budgets at once (at most ${BUDGET_BATCH_MAX} items)`,
    description:
      "Each item is decided as PUT or DELETE /v1/budgets/{id} decides it; the valid ones are written in one " +
      "write (one version for the batch). An id named twice in one batch is refused each time. 200 when at " +
      "least one item was applied: `upserted` (the budgets as stored), `deleted` (ids) and `rejected` (each " +
      "item refused, with the status, error and field errors its single route would have answered: 400, " +
      "403 another org, 404 no such budget, 409 an id another org uses). 400 (the same reply) when none was.",
    auth: ["admin"],
    body: budgetBatchSchema,
    responses: {
      200: { description: "At least one item applied", schema: budgetBatchReplySchema },
      ...batchAnswers(BUDGET_BATCH_MAX, budgetBatchReplySchema),
    },
  },
  {
    method: "get",
    path: "/v1/budgets",
    summary: "List the budgets (an org's key: its org's), a page at a time",
    description: paged("budgets"),
    auth: ["viewer"],
    query: budgetsPageQuerySchema,
    responses: {
      200: {
        description: "A page of budgets",
        schema: z.object({ budgets: z.array(budgetSchema), next_after: nextAfterSchema }),
      },
      400: invalid("Invalid parameters: each and why"),
    },
  },
  {
    method: "get",
    path: "/v1/budgets/:id",
    summary: "Read a budget",
    auth: ["viewer"],
    responses: { 200: { description: "The budget", schema: budgetSchema }, 404: notFound },
  },
  {
    method: "delete",
    path: "/v1/budgets/:id",
    summary: "Delete a budget",
    auth: ["admin"],
    responses: { 204: { description: "Deleted" }, 404: notFound },
  },
  {
    method: "post",
    path: "/v1/budgets/:id/grants",
    summary: "Grant a temporary top-up of a budget",
    auth: ["admin"],
    body: grantInputSchema,
    responses: { 201: { description: "Granted", schema: grantSchema }, 400: invalid(), 404: notFound },
  },
  {
    method: "get",
    path: "/v1/budgets/:id/grants",
    summary: "The live grants of a budget",
    auth: ["viewer"],
    responses: {
      200: { description: "The grants", schema: z.object({ grants: z.array(grantSchema) }) },
      404: notFound,
    },
  },
  {
    method: "delete",
    path: "/v1/budgets/:id/grants/:grant",
    summary: "Withdraw a grant",
    auth: ["admin"],
    responses: { 204: { description: "Withdrawn" }, 404: notFound },
  },
  {
    method: "put",
    path: "/v1/users/:user/tier",
    summary: "Assign a user's tier",
    auth: ["admin"],
    params: userParam,
    body: tierInputSchema,
    responses: { 200: { description: "Assigned", schema: tierAssignmentSchema }, 400: invalid(), 403: tenantRefused },
  },
  {
    method: "get",
    path: "/v1/users/:user/tier",
    summary: "A user's tier",
    auth: ["viewer"],
    params: userParam,
    query: orgQuery,
    responses: {
      200: { description: "The assignment", schema: tierAssignmentSchema },
      403: tenantRefused,
      404: notFound,
    },
  },
  {
    method: "delete",
    path: "/v1/users/:user/tier",
    summary: "Remove a user's tier",
    auth: ["admin"],
    params: userParam,
    query: orgQuery,
    responses: { 204: { description: "Removed" }, 403: tenantRefused, 404: notFound },
  },
];

const webhookRoutes: ApiRoute[] = [
  {
    method: "post",
    path: "/v1/webhooks",
    summary: "Create a webhook endpoint (the signing secret is shown once)",
    auth: ["admin"],
    body: endpointInputSchema,
    responses: { 201: { description: "Created", schema: createdWebhookSchema }, 400: invalid(), 403: tenantRefused },
  },
  {
    method: "get",
    path: "/v1/webhooks",
    summary: "List the webhook endpoints",
    auth: ["admin"],
    responses: { 200: { description: "The endpoints", schema: z.object({ webhooks: z.array(webhookSchema) }) } },
  },
  {
    method: "get",
    path: "/v1/webhooks/:id",
    summary: "Read a webhook endpoint",
    auth: ["admin"],
    responses: { 200: { description: "The endpoint", schema: webhookSchema }, 404: notFound },
  },
  {
    method: "patch",
    path: "/v1/webhooks/:id",
    summary: "Change a webhook endpoint",
    auth: ["admin"],
    body: endpointPatchSchema,
    responses: { 200: { description: "Changed", schema: webhookSchema }, 400: invalid(), 404: notFound },
  },
  {
    method: "delete",
    path: "/v1/webhooks/:id",
    summary: "Delete a webhook endpoint",
    auth: ["admin"],
    responses: { 204: { description: "Deleted" }, 404: notFound },
  },
  {
    method: "post",
    path: "/v1/webhooks/:id/rotate-secret",
    summary: "Rotate the signing secret (the old one keeps signing for the overlap)",
    auth: ["admin"],
    body: rotateInputSchema,
    responses: { 200: { description: "Rotated", schema: rotatedWebhookSchema }, 400: invalid(), 404: notFound },
  },
  {
    method: "post",
    path: "/v1/webhooks/:id/test",
    summary: "Schedule a webhook.test delivery",
    auth: ["admin"],
    responses: { 202: { description: "Scheduled", schema: scheduledDeliverySchema }, 404: notFound },
  },
  {
    method: "get",
    path: "/v1/webhooks/:id/deliveries",
    summary: "The endpoint's deliveries, newest first, with their attempts",
    auth: ["admin"],
    query: deliveriesQuerySchema,
    responses: { 200: { description: "A page", schema: deliveriesPageSchema }, 400: invalid(), 404: notFound },
  },
  {
    method: "post",
    path: "/v1/webhooks/:id/deliveries/:delivery/replay",
    summary: "Send a delivery again (a new delivery of the same message)",
    auth: ["admin"],
    responses: {
      202: { description: "Scheduled", schema: scheduledDeliverySchema },
      404: notFound,
      409: refused("The endpoint is disabled"),
    },
  },
];

/** Every route enforcement serves besides health and /openapi.json; webhooks when the service mounts them. */
export function enforcementApiRoutes(options: { webhooks: boolean }): ApiRoute[] {
  return [...checkRoutes, decisionsApiRoute, ...keyRoutes, ...budgetRoutes, ...(options.webhooks ? webhookRoutes : [])];
}

export function enforcementOpenApi(options: { webhooks: boolean }) {
  return openApiDocument(
    {
      title: "Tollgate enforcement API",
      version: "1",
      description:
        "Checks and reservations before each inference, usage standings, API keys, budgets, grants, tiers and " +
        "webhooks. Default port 8080. See docs/api.md.",
    },
    enforcementApiRoutes(options),
  );
}
