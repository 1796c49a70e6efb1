/**
 * Every type that crosses the wire, in one file: the server's snake_case
 * shapes (`Wire*`) and the camelCase ones callers use. The wire half is
 * written out here, not imported: the zod schemas it follows (the ones the
 * routes validate with and /openapi.json documents) live in unpublished
 * workspace packages, which a published .d.ts cannot name, and the SDK has
 * no runtime dependency. wire-types.test.ts holds each Wire* type to its
 * schema at compile time (`pnpm typecheck`): what the SDK sends, the
 * server's schema takes; what the server answers, the SDK reads.
 */

/** Who a call speaks for. Given once in `createTollgate({ subject })` and per call; per call wins. */
export interface Subject {
  orgId?: string;
  teamId?: string;
  projectId?: string;
  userId?: string;
  agentId?: string;
  sessionId?: string;
  feature?: string;
  taskType?: string;
}

export const SUBJECT_FIELDS = {
  orgId: "org_id",
  teamId: "team_id",
  projectId: "project_id",
  userId: "user_id",
  agentId: "agent_id",
  sessionId: "session_id",
  feature: "feature",
  taskType: "task_type",
} as const satisfies Record<keyof Subject, string>;

export type WireSubject = Partial<Record<(typeof SUBJECT_FIELDS)[keyof Subject], string>>;

export type Decision = "allow" | "warn" | "degrade" | "throttle" | "deny";

export interface CheckRequest extends Subject {
  model?: string;
  provider?: string;
  /** Input tokens of the request (the estimate held by a reservation is input + max output). */
  inputTokens?: number;
  maxOutputTokens?: number;
}

/** POST /v1/check body (strict on the server: only these fields). */
export interface WireCheckRequest extends WireSubject {
  model?: string;
  provider?: string;
  input_tokens?: number;
  max_output_tokens?: number;
  reserve?: boolean;
}

export interface WireBudgetStanding {
  id: string;
  scope: { type: string; id: string };
  member?: string;
  metric: string;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  resets_at: string | null;
  limit_kind?: string;
  decision?: string;
  standing_unknown?: boolean;
}

export interface BudgetStanding {
  id: string;
  scope: { type: string; id: string };
  member?: string;
  metric: string;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  resetsAt: string | null;
  limitKind?: string;
  decision?: Decision;
  /** The counters could not be read: the server failed open or closed for this line. */
  standingUnknown?: boolean;
}

export interface WireCheckResult {
  decision: Decision;
  reason: string;
  reservation_id?: string;
  model: string | null;
  max_output_tokens: number;
  retry_after_s?: number;
  resets_at?: string;
  cost_estimate_micro_usd: number | null;
  budgets: WireBudgetStanding[];
}

export interface CheckResult {
  decision: Decision;
  /** Human-readable; names the budget that decided. */
  reason: string;
  /** Set by `reserve` when the estimate is held (not on deny or throttle, nor when no budget applies). */
  reservationId?: string;
  /** The model to use: the requested one, or the cheaper one a degrade budget maps it to. */
  model: string | null;
  /** The output cap to use (0: none asked, none imposed). */
  maxOutputTokens: number;
  retryAfterS?: number;
  resetsAt?: string;
  costEstimateMicroUsd: number | null;
  budgets: BudgetStanding[];
  /** The budget whose outcome is the decision (absent on allow). */
  decidingBudget?: BudgetStanding;
  /** Tollgate did not answer and the client is in fail-open mode: this is not Tollgate's decision. */
  failedOpen?: true;
}

/** Token counts of one model call, in whichever naming the caller has. */
export interface UsageCounts {
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  reasoningTokens?: number;
}

export interface UsageReport extends Subject, UsageCounts {
  model: string;
  provider?: string;
  /** Idempotency key; generated when absent, and kept across retries so a retry is counted once. */
  eventId?: string;
  timestamp?: Date | string | number;
  traceId?: string;
  spanId?: string;
  /** USD as a decimal; the server prices from its table when absent. */
  costUsd?: number | string;
  /** The reservation this usage settles (from `reserve`). */
  reservationId?: string;
  status?: "ok" | "error";
}

/** One item of POST /v1/events. */
export interface WireUsageEvent extends WireSubject {
  event_id: string;
  timestamp: string;
  model: string;
  provider?: string;
  trace_id?: string;
  span_id?: string;
  usage: { input_tokens: number; output_tokens: number; cached_tokens?: number; reasoning_tokens?: number };
  cost_usd?: number | string;
  reservation_id?: string;
  status?: "ok" | "error";
}

export interface WireEventsReply {
  accepted: number;
  rejected: Array<{ index: number; errors: Array<{ path: string; message: string }> }>;
}

/** GET /v1/usage query: the check's identities less task_type, plus model. */
export interface UsageQuery extends Omit<Subject, "taskType"> {
  model?: string;
}

export interface WireTotals {
  tokens: number;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  requests: number;
}

export interface Totals {
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  costMicroUsd: number;
  requests: number;
}

export type TotalsScope = "org" | "team" | "project" | "user" | "agent" | "session" | "feature" | "model";

export interface WireUsageResult {
  budgets: WireBudgetStanding[];
  totals: Partial<Record<TotalsScope, { day: WireTotals; month: WireTotals }>>;
}

export interface UsageResult {
  budgets: BudgetStanding[];
  /** Running totals (UTC day and month) for each identity named. */
  totals: Partial<Record<TotalsScope, { day: Totals; month: Totals }>>;
  failedOpen?: true;
}

/** What the SDK logs: Tollgate's own trouble, once per outage. `console` fits. */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
}
