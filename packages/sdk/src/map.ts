import {
  type BudgetStanding,
  type CheckRequest,
  type CheckResult,
  type Decision,
  SUBJECT_FIELDS,
  type Subject,
  type Totals,
  type UsageCounts,
  type UsageQuery,
  type UsageReport,
  type UsageResult,
  type WireBudgetStanding,
  type WireCheckRequest,
  type WireCheckResult,
  type WireSubject,
  type WireTotals,
  type WireUsageEvent,
  type WireUsageResult,
} from "./types.js";

const FIELD_PAIRS = Object.entries(SUBJECT_FIELDS) as Array<[keyof Subject, keyof WireSubject]>;

/** camelCase identities → the server's snake_case, leaving out what is absent (the routes are strict). */
export function wireSubject(subject: Subject): WireSubject {
  return wireIdentities({}, subject, {});
}

/**
 * The client's subject under a call's own identities (per call wins), written
 * in snake_case onto `out` — without the merged subject in between: it runs
 * for every check and report.
 */
function wireIdentities<T extends WireSubject>(base: Subject, call: Subject, out: T): T {
  for (const [camel, snake] of FIELD_PAIRS) {
    const value = call[camel] !== undefined ? call[camel] : base[camel];
    if (value !== undefined && value !== null) out[snake] = value;
  }
  return out;
}

/** The client's subject under the call's own identities (per call wins). */
export function mergeSubject(base: Subject, call: Subject): Subject {
  const merged: Subject = { ...base };
  for (const field of Object.keys(SUBJECT_FIELDS) as Array<keyof Subject>) {
    if (call[field] !== undefined) merged[field] = call[field];
  }
  return merged;
}

export function wireCheck(subject: Subject, request: CheckRequest, reserve: boolean): WireCheckRequest {
  const body: WireCheckRequest = wireIdentities(subject, request, { reserve } as WireCheckRequest);
  if (request.model !== undefined) body.model = request.model;
  if (request.provider !== undefined) body.provider = request.provider;
  if (request.inputTokens !== undefined) body.input_tokens = request.inputTokens;
  if (request.maxOutputTokens !== undefined) body.max_output_tokens = request.maxOutputTokens;
  return body;
}

export function fromWireStanding(b: WireBudgetStanding): BudgetStanding {
  const out: BudgetStanding = {
    id: b.id,
    scope: b.scope,
    metric: b.metric,
    limit: b.limit,
    used: b.used,
    reserved: b.reserved,
    remaining: b.remaining,
    resetsAt: b.resets_at,
  };
  if (b.member !== undefined) out.member = b.member;
  if (b.limit_kind !== undefined) out.limitKind = b.limit_kind;
  if (b.decision !== undefined) out.decision = b.decision as Decision;
  if (b.standing_unknown) out.standingUnknown = true;
  return out;
}

export function fromWireCheck(r: WireCheckResult): CheckResult {
  const budgets = r.budgets.map(fromWireStanding);
  const out: CheckResult = {
    decision: r.decision,
    reason: r.reason,
    model: r.model,
    maxOutputTokens: r.max_output_tokens,
    costEstimateMicroUsd: r.cost_estimate_micro_usd,
    budgets,
  };
  if (r.reservation_id !== undefined) out.reservationId = r.reservation_id;
  if (r.retry_after_s !== undefined) out.retryAfterS = r.retry_after_s;
  if (r.resets_at !== undefined) out.resetsAt = r.resets_at;
  const deciding = decidingBudget(r.decision, r.reason, budgets);
  if (deciding) out.decidingBudget = deciding;
  return out;
}

/**
 * The server names the deciding budget in `reason` and marks each line's own
 * outcome; among lines with the winning outcome, the one the reason names
 * (the server picks the widest scope among equals, which the list order
 * does not tell).
 */
function decidingBudget(decision: Decision, reason: string, budgets: BudgetStanding[]): BudgetStanding | undefined {
  if (decision === "allow") return undefined;
  const candidates = budgets.filter((b) => b.decision === decision);
  // The server's wording is "budget <id> (<scope type> <member>)": matched whole, so "b1" is not found in "b10".
  return candidates.find((b) => reason.includes(`budget ${b.id} (`)) ?? candidates[0];
}

function fromWireTotals(t: WireTotals): Totals {
  return {
    tokens: t.tokens,
    inputTokens: t.input_tokens,
    outputTokens: t.output_tokens,
    costMicroUsd: t.cost_micro_usd,
    requests: t.requests,
  };
}

export function fromWireUsage(r: WireUsageResult): UsageResult {
  const totals: UsageResult["totals"] = {};
  for (const [scope, windows] of Object.entries(r.totals)) {
    if (windows) {
      totals[scope as keyof typeof totals] = { day: fromWireTotals(windows.day), month: fromWireTotals(windows.month) };
    }
  }
  return { budgets: r.budgets.map(fromWireStanding), totals };
}

/** GET /v1/usage's query string: its strict schema takes no task_type. */
export function usageQueryString(query: UsageQuery): string {
  const { taskType: _notAQueryField, ...rest } = query as Subject & { model?: string };
  const params = new URLSearchParams(wireSubject(rest) as Record<string, string>);
  if (query.model !== undefined) params.set("model", query.model);
  return params.toString();
}

export function wireEvent(subject: Subject, report: UsageReport, eventId: string): WireUsageEvent {
  const at = report.timestamp ?? Date.now();
  const event: WireUsageEvent = {
    event_id: eventId,
    timestamp: new Date(at).toISOString(),
    model: report.model,
    usage: { input_tokens: report.inputTokens ?? 0, output_tokens: report.outputTokens ?? 0 },
  };
  wireIdentities(subject, report, event);
  if (report.cachedTokens !== undefined) event.usage.cached_tokens = report.cachedTokens;
  if (report.reasoningTokens !== undefined) event.usage.reasoning_tokens = report.reasoningTokens;
  if (report.provider !== undefined) event.provider = report.provider;
  if (report.traceId !== undefined) event.trace_id = report.traceId;
  if (report.spanId !== undefined) event.span_id = report.spanId;
  if (report.costUsd !== undefined) event.cost_usd = report.costUsd;
  if (report.reservationId !== undefined) event.reservation_id = report.reservationId;
  if (report.status !== undefined) event.status = report.status;
  return event;
}

const count = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;

/**
 * Token counts from whatever a call returns (`result.usage`) or a stream
 * chunk carries, in the namings of the common SDKs: Vercel AI SDK
 * (`inputTokens`/`outputTokens`, v4 `promptTokens`/`completionTokens`),
 * OpenAI chat (`prompt_tokens`/`completion_tokens`), OpenAI responses and
 * Anthropic (`input_tokens`/`output_tokens`). Undefined when none is there.
 */
export function usageOf(value: unknown): UsageCounts | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const u = value as Record<string, unknown>;
  const input = count(u.inputTokens) ?? count(u.promptTokens) ?? count(u.input_tokens) ?? count(u.prompt_tokens);
  const output =
    count(u.outputTokens) ?? count(u.completionTokens) ?? count(u.output_tokens) ?? count(u.completion_tokens);
  if (input === undefined && output === undefined) return undefined;
  const counts: UsageCounts = { inputTokens: input ?? 0, outputTokens: output ?? 0 };
  const cached = count(u.cachedTokens) ?? count(u.cachedInputTokens) ?? count(u.cache_read_input_tokens);
  const reasoning = count(u.reasoningTokens) ?? count(u.reasoning_tokens);
  if (cached !== undefined) counts.cachedTokens = cached;
  if (reasoning !== undefined) counts.reasoningTokens = reasoning;
  return counts;
}
