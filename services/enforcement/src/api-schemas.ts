import { ROLES } from "@tollgate/auth";
import { ACTIONS, BUDGET_SCOPE_TYPES, DECISIONS, METRICS } from "@tollgate/budgets";
import { fieldErrorSchema } from "@tollgate/kit";
import { EVENT_TYPES } from "@tollgate/webhooks";
import { z } from "zod";

/**
 * What enforcement's routes answer, as zod schemas: the response half of
 * its OpenAPI document (the request half is the schemas the routes validate
 * with). The routes build their answers from TypeScript types (CheckResult,
 * Budget, …); api.test.ts checks at compile time that each of those types
 * fits its schema here, so the document cannot drift from the code.
 */

const isoTime = z.iso.datetime({ offset: true });
const tags = z.record(z.string(), z.string());

export const budgetStandingSchema = z
  .object({
    id: z.string().meta({ description: "The budget (rate lines: `<id>#requests_per_minute`, …)" }),
    scope: z.object({ type: z.string(), id: z.string() }),
    member: z.string().meta({ description: 'The member the line counts (the user of a `"*"` user budget)' }),
    metric: z.string(),
    limit: z.number().int(),
    used: z.number().int(),
    reserved: z.number().int(),
    remaining: z.number().int(),
    resets_at: isoTime.nullable(),
    limit_kind: z.enum(["window", "requests_per_minute", "tokens_per_minute"]),
    projected_exhaustion_at: isoTime.nullable().meta({
      description: "When the limit runs out at the recent rate; null when the window resets first",
    }),
    decision: z.string().optional(),
    standing_unknown: z
      .boolean()
      .optional()
      .meta({ description: "The counters could not be read: the line was decided by the failure policy" }),
  })
  .meta({ id: "BudgetStanding" });

export const checkResultSchema = z
  .object({
    decision: z.enum(DECISIONS),
    reason: z.string().meta({ description: "Human-readable; names the budget that decided" }),
    reservation_id: z.string().optional().meta({ description: "With reserve=true, when the estimate is held" }),
    model: z.string().nullable().meta({ description: "The model to use (a degrade budget may map it)" }),
    max_output_tokens: z.number().int(),
    retry_after_s: z.number().int().optional(),
    resets_at: isoTime.optional(),
    cost_estimate_micro_usd: z.number().int().nullable(),
    budgets: z.array(budgetStandingSchema),
    input_tokens: z.number().int().optional().meta({ description: "Counted from messages or prompt" }),
    input_tokens_estimated: z
      .boolean()
      .optional()
      .meta({ description: "The count is an approximation (a model whose tokenizer is not known)" }),
  })
  .meta({ id: "CheckResult" });

const totalsSchema = z
  .object({
    tokens: z.number().int(),
    input_tokens: z.number().int(),
    output_tokens: z.number().int(),
    cost_micro_usd: z.number().int(),
    requests: z.number().int(),
  })
  .meta({ id: "Totals" });

export const usageResultSchema = z
  .object({
    budgets: z.array(budgetStandingSchema),
    totals: z
      .partialRecord(
        z.enum(["org", "team", "project", "user", "agent", "session", "feature", "model"]),
        z.object({ day: totalsSchema, month: totalsSchema }),
      )
      .meta({ description: "Running totals (UTC day and month) of each identity named" }),
  })
  .meta({ id: "UsageResult" });

export const keyRecordSchema = z
  .object({
    id: z.string(),
    role: z.enum(ROLES),
    name: z.string(),
    org_id: z.string().nullable(),
    bound_tags: tags,
    default_tags: tags,
    created_at: z.string(),
  })
  .meta({ id: "ApiKey" });

export const createdKeySchema = keyRecordSchema
  .extend({ key: z.string().meta({ description: "The secret: shown once, stored hashed" }) })
  .meta({ id: "CreatedApiKey" });

const windowSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("calendar"), unit: z.enum(["day", "week", "month"]), timezone: z.string() }),
  z.object({ type: z.literal("rolling"), seconds: z.number().int() }),
  z.object({ type: z.literal("lifetime") }),
]);

export const budgetSchema = z
  .object({
    id: z.string(),
    org_id: z.string().nullable().optional(),
    scope: z.object({ type: z.enum(BUDGET_SCOPE_TYPES), id: z.string() }),
    metric: z.enum(METRICS),
    window: windowSchema,
    limit: z.number().int().meta({ description: "In the metric's unit (micro-USD for cost_usd)" }),
    soft_limit_pct: z.number().nullable(),
    action: z.enum(ACTIONS),
    alert_thresholds_pct: z.array(z.number()),
    degrade: z
      .object({ model_map: z.record(z.string(), z.string()), max_output_tokens: z.number().int().nullable() })
      .nullable(),
    filter: z.object({
      model: z.string().optional(),
      feature: z.string().optional(),
      task_type: z.string().optional(),
      provider: z.string().optional(),
    }),
    per_request: z.object({
      max_input_tokens: z.number().int().optional(),
      max_output_tokens: z.number().int().optional(),
    }),
    rate_limit: z.object({
      requests_per_minute: z.number().int().optional(),
      tokens_per_minute: z.number().int().optional(),
    }),
    tier: z.string().nullable(),
    failure_policy: z.enum(["open", "closed"]).nullable(),
    version: z.number().int(),
    updated_at_ms: z.number().int(),
  })
  .meta({ id: "Budget" });

export const grantSchema = z
  .object({
    id: z.string(),
    budget_id: z.string(),
    member: z.string().nullable(),
    amount: z.number().int(),
    expires_at_ms: z.number().int(),
    reason: z.string().nullable(),
    created_at_ms: z.number().int(),
  })
  .meta({ id: "Grant" });

export const tierAssignmentSchema = z
  .object({
    id: z.string(),
    org_id: z.string().nullable(),
    user_id: z.string(),
    tier: z.string(),
    updated_at_ms: z.number().int(),
  })
  .meta({ id: "TierAssignment" });

export const webhookSchema = z
  .object({
    id: z.string(),
    org_id: z.string().nullable(),
    url: z.string(),
    events: z.array(z.enum(EVENT_TYPES)),
    description: z.string().nullable(),
    format: z.enum(["standard", "slack"]),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    created_at: isoTime,
    updated_at: isoTime,
    secrets: z.array(z.object({ created_at: isoTime, expires_at: isoTime.nullable() })),
  })
  .meta({ id: "Webhook" });

export const createdWebhookSchema = webhookSchema
  .extend({ secret: z.string().meta({ description: "whsec_…: shown once" }) })
  .meta({ id: "CreatedWebhook" });

export const rotatedWebhookSchema = createdWebhookSchema
  .extend({ previous_secret_expires_at: isoTime })
  .meta({ id: "RotatedWebhook" });

export const scheduledDeliverySchema = z
  .object({
    delivery_id: z.string().optional(),
    message_id: z.string().optional(),
    replay_of: z.string().optional(),
  })
  .meta({ id: "ScheduledDelivery" });

export const deliveriesPageSchema = z
  .object({
    deliveries: z.array(
      z.object({
        id: z.string(),
        message_id: z.string(),
        event_type: z.string(),
        state: z.string(),
        attempts: z.number().int(),
        next_attempt_at: isoTime.nullable(),
        created_at: isoTime,
        payload: z.unknown(),
        attempt_log: z.array(
          z.object({
            attempt: z.number().int(),
            at: isoTime,
            status: z.number().int().nullable(),
            latency_ms: z.number(),
            error: z.string().nullable(),
            response: z.string(),
          }),
        ),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: "DeliveriesPage" });

/** One refused item of a bulk route: where it was, and what its single route would have answered. */
export const batchRejectionSchema = z
  .object({
    op: z.string().meta({ description: "The list it was in: upsert, delete (budgets) or create (keys)" }),
    index: z.number().int().meta({ description: "Its position in that list, from 0" }),
    id: z.string().optional().meta({ description: "The id it named, if any" }),
    status: z.number().int().meta({ description: "What the single route would have answered: 400, 403, 404 or 409" }),
    error: z.string(),
    message: z.string(),
    errors: z.array(fieldErrorSchema),
  })
  .meta({ id: "BatchRejection" });

export const budgetBatchReplySchema = z
  .object({
    accepted: z.number().int().meta({ description: "Items applied (budgets written and deleted)" }),
    upserted: z.array(budgetSchema),
    deleted: z.array(z.string()),
    rejected: z.array(batchRejectionSchema),
  })
  .meta({ id: "BudgetBatchReply" });

export const keyBatchReplySchema = z
  .object({
    accepted: z.number().int(),
    created: z.array(
      createdKeySchema.extend({ index: z.number().int().meta({ description: "Its position in `create`" }) }),
    ),
    rejected: z.array(batchRejectionSchema),
  })
  .meta({ id: "KeyBatchReply" });
