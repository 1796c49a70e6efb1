import { identifier, usdToMicro } from "@tollgate/events";
import { IANAZone } from "luxon";
import { z } from "zod";

/**
 * A budget as admins write it (PUT /v1/budgets/{id}, ARCHITECTURE.md
 * "Budgets") and as enforcement and the aggregator read it. Amounts are
 * integers in the metric's unit: tokens, requests, or micro-USD for
 * `cost_usd` (write `limit_usd: "50.00"` to give dollars).
 */
export const BUDGET_SCOPE_TYPES = [
  "org",
  "team",
  "project",
  "user",
  "agent",
  "session",
  "feature",
  "model",
  "key",
] as const;
export type BudgetScopeType = (typeof BUDGET_SCOPE_TYPES)[number];

/** Nesting for the standing and for "the deciding budget": wider scopes first. */
export const SCOPE_ORDER: Record<BudgetScopeType, number> = {
  org: 0,
  team: 1,
  project: 2,
  user: 3,
  agent: 4,
  session: 5,
  feature: 6,
  model: 7,
  key: 8,
};

export const METRICS = ["tokens", "input_tokens", "output_tokens", "cost_usd", "requests"] as const;
export type Metric = (typeof METRICS)[number];

export const ACTIONS = ["block", "throttle", "degrade", "warn"] as const;
export type Action = (typeof ACTIONS)[number];

const id = identifier;
const amount = z
  .int({ error: "must be a whole number in the metric's unit" })
  .min(0, { error: "must be ≥ 0" })
  .max(Number.MAX_SAFE_INTEGER, { error: "is too large" });
const pct = z.number({ error: "must be a percentage" }).min(0).max(100);

const windowSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("calendar"),
      unit: z.enum(["day", "week", "month"], { error: "must be day, week or month" }),
      timezone: z
        .string()
        .default("UTC")
        .refine((zone) => IANAZone.isValidZone(zone), { error: "must be an IANA time zone, e.g. Europe/Berlin" }),
    }),
    z.strictObject({
      type: z.literal("rolling"),
      seconds: z
        .int({ error: "must be a whole number of seconds" })
        .min(60, { error: "must be at least 60" })
        .max(366 * 24 * 3600, { error: "must be at most a year" }),
    }),
    z.strictObject({ type: z.literal("lifetime") }),
  ],
  { error: 'must be {"type": "calendar" | "rolling" | "lifetime", …}' },
);
export type BudgetWindow = z.infer<typeof windowSchema>;

export const budgetInputSchema = z
  .strictObject({
    scope: z.strictObject({
      type: z.enum(BUDGET_SCOPE_TYPES, { error: `must be one of ${BUDGET_SCOPE_TYPES.join(", ")}` }),
      id: id.describe('"*" gives each member of the scope its own budget'),
    }),
    metric: z.enum(METRICS, { error: `must be one of ${METRICS.join(", ")}` }),
    window: windowSchema,
    limit: amount.optional(),
    limit_usd: z
      .union([z.number().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*$/)], { error: "must be a decimal amount of USD" })
      .optional(),
    soft_limit_pct: pct.optional(),
    action: z.enum(ACTIONS, { error: `must be one of ${ACTIONS.join(", ")}` }).default("block"),
    /**
     * A degrade or warn budget's final ceiling, in % of the limit (≥ 100):
     * past it the member is blocked. Without one, such a budget never stops anyone.
     */
    hard_limit_pct: z
      .int({ error: "must be a whole percentage" })
      .min(100, { error: "must be at least 100 (% of the limit)" })
      .max(100_000, { error: "must be at most 100000" })
      .optional(),
    alert_thresholds_pct: z.array(pct).max(10).default([]),
    /**
     * A reservation that expires neither settled nor released is charged as
     * its estimate (`charge`, the default: no call counts as free), or its
     * hold simply lapses for this budget (`release`).
     */
    on_unsettled: z.enum(["charge", "release"], { error: "must be charge or release" }).default("charge"),
    degrade: z
      .strictObject({
        model_map: z.record(id, id).default({}),
        max_output_tokens: amount.optional(),
      })
      .optional(),
    filter: z
      .strictObject({ model: id.optional(), feature: id.optional(), task_type: id.optional(), provider: id.optional() })
      .default({}),
    per_request: z
      .strictObject({ max_input_tokens: amount.optional(), max_output_tokens: amount.optional() })
      .default({}),
    rate_limit: z
      .strictObject({ requests_per_minute: amount.optional(), tokens_per_minute: amount.optional() })
      .default({}),
    /** Only members carrying this tier (key default tag or check field `tier`). */
    tier: id.optional(),
    /** The org the budget belongs to: it applies to that org's usage only. An org admin's budgets are its org's. */
    org_id: id.optional(),
    /** With the counters unreachable: allow (open) or deny (closed); absent = the service's default. */
    failure_policy: z.enum(["open", "closed"], { error: "must be open or closed" }).optional(),
  })
  .superRefine((input, ctx) => {
    if (input.limit === undefined && input.limit_usd === undefined) {
      ctx.addIssue({ code: "custom", path: ["limit"], message: "is required (or limit_usd for cost_usd)" });
    }
    if (input.limit !== undefined && input.limit_usd !== undefined) {
      ctx.addIssue({ code: "custom", path: ["limit_usd"], message: "give either limit or limit_usd, not both" });
    }
    if (input.limit_usd !== undefined && input.metric !== "cost_usd") {
      ctx.addIssue({ code: "custom", path: ["limit_usd"], message: "only for metric cost_usd" });
    }
    if (input.hard_limit_pct !== undefined && input.action !== "degrade" && input.action !== "warn") {
      ctx.addIssue({
        code: "custom",
        path: ["hard_limit_pct"],
        message: "only for action degrade or warn (block and throttle stop at the limit itself)",
      });
    }
    if (input.action === "degrade" && !input.degrade) {
      ctx.addIssue({
        code: "custom",
        path: ["degrade"],
        message: "action degrade needs a degrade policy (model_map and/or max_output_tokens)",
      });
    }
  });

export type BudgetInput = z.input<typeof budgetInputSchema>;

export interface Budget {
  id: string;
  /**
   * The org it belongs to and applies to (its usage and checks only); null:
   * every org (an operator's budget). Budgets stored before orgs were tracked
   * lack the field and read as null.
   */
  org_id?: string | null;
  scope: { type: BudgetScopeType; id: string };
  metric: Metric;
  window: BudgetWindow;
  /** In the metric's unit (micro-USD for cost_usd). */
  limit: number;
  soft_limit_pct: number | null;
  action: Action;
  /** Degrade and warn budgets: blocked past this % of the limit; null (or absent, budgets stored before it existed): never. */
  hard_limit_pct?: number | null;
  /** What an expired, unsettled reservation costs this budget; absent (stored before it existed): "charge". */
  on_unsettled?: "charge" | "release";
  alert_thresholds_pct: number[];
  degrade: { model_map: Record<string, string>; max_output_tokens: number | null } | null;
  filter: { model?: string; feature?: string; task_type?: string; provider?: string };
  per_request: { max_input_tokens?: number; max_output_tokens?: number };
  rate_limit: { requests_per_minute?: number; tokens_per_minute?: number };
  tier: string | null;
  failure_policy: "open" | "closed" | null;
  /** Bumped on every write; the newest version wins everywhere. */
  version: number;
  updated_at_ms: number;
}

export const BUDGET_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** At most this many items (upserts and deletions together) per POST /v1/budgets:batch; the CLI sends chunks of it. */
export const BUDGET_BATCH_MAX = 1_000;

export function toBudget(
  budgetId: string,
  input: z.output<typeof budgetInputSchema>,
  nowMs: number,
  version: number,
): Budget {
  const limit = input.limit ?? (input.limit_usd !== undefined ? (usdToMicro(input.limit_usd) ?? 0) : 0);
  return {
    id: budgetId,
    org_id: input.org_id ?? null,
    scope: input.scope,
    metric: input.metric,
    window: input.window,
    limit,
    soft_limit_pct: input.soft_limit_pct ?? null,
    action: input.action,
    hard_limit_pct: input.hard_limit_pct ?? null,
    on_unsettled: input.on_unsettled,
    alert_thresholds_pct: [...input.alert_thresholds_pct].sort((a, b) => a - b),
    degrade: input.degrade
      ? { model_map: input.degrade.model_map, max_output_tokens: input.degrade.max_output_tokens ?? null }
      : null,
    filter: input.filter,
    per_request: input.per_request,
    rate_limit: input.rate_limit,
    tier: input.tier ?? null,
    failure_policy: input.failure_policy ?? null,
    version,
    updated_at_ms: nowMs,
  };
}
