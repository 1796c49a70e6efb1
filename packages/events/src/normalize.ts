import { deriveEventId } from "./event-id";
import { type FieldError, fromZodIssues } from "./field-errors";
import {
  type SpanEventInput,
  spanEventInputSchema,
  type UsageEventInput,
  type UsageInput,
  usageEventInputSchema,
} from "./input-schema";
import type { CostSource, DefaultTags, EventSource, UsageEvent } from "./usage-event";
import { usdToMicro } from "./usd";

/** Token counts in the internal convention (see usage-event.ts). */
export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cache_creation_input_tokens: number;
  reasoning_tokens: number;
}

/**
 * Prices an event when it did not report its cost: null means the model is
 * unknown; `estimated` means it was priced as a close relative (a dated
 * snapshot of a known model).
 */
export type PriceFn = (
  model: string,
  provider: string | null,
  tokens: TokenCounts,
) => { cost_micro_usd: number; estimated: boolean } | null;

export interface NormalizeContext {
  nowMs: number;
  source: EventSource;
  /** Default tags of the reporting API key: fill what the event leaves out. */
  defaults?: DefaultTags;
  /**
   * Tags the reporting key is bound to (its org, …): an event naming another
   * value is refused with that field's error. Pass them in `defaults` too,
   * where they win, so they also fill in.
   */
  bound?: DefaultTags;
  keyId?: string | null;
  price?: PriceFn;
}

export type NormalizeResult = { ok: true; event: UsageEvent } | { ok: false; errors: FieldError[] };

/** Events further in the future than this are clock bugs, not usage. */
export const MAX_FUTURE_SKEW_MS = 60 * 60 * 1000;

const REQUIRED_TAGS = ["project_id", "user_id", "agent_id"] as const;

/** A usage event as reported at POST /v1/events. */
export function normalizeUsageEvent(raw: unknown, ctx: NormalizeContext): NormalizeResult {
  const parsed = usageEventInputSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: fromZodIssues(parsed.error.issues) };
  return completeEvent(parsed.data, ctx, EVENT_TOKEN_FIELDS);
}

/** A usage event as the OTLP mapping reads it from a span (see spanEventInputSchema). */
export function normalizeSpanEvent(raw: unknown, ctx: NormalizeContext): NormalizeResult {
  const parsed = spanEventInputSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: fromZodIssues(parsed.error.issues) };
  return completeEvent(parsed.data, ctx, SPAN_TOKEN_FIELDS);
}

/** Validated input → the event: tags and their defaults, tokens, time and cost. */
function completeEvent(
  input: UsageEventInput | SpanEventInput,
  ctx: NormalizeContext,
  tokenFields: TokenFields,
): NormalizeResult {
  const errors: FieldError[] = [];

  if (ctx.bound) checkBound(input, ctx.bound, errors);
  const tags = resolveTags(input, ctx.defaults ?? {}, errors);
  const counts = resolveTokens(input.usage, tokenFields, errors);
  const timestampMs = resolveTimestamp(input.timestamp, ctx.nowMs, errors);
  const reportedMicro = resolveReportedCost(input.cost_usd, errors);
  if (errors.length > 0 || !tags || !counts || timestampMs === null) return { ok: false, errors };

  const provider = input.provider ?? null;
  const { cost_micro_usd, cost_source } = resolveCost(reportedMicro, input.model, provider, counts, ctx.price);

  // Spelled out, not spread: this literal is built for every event on the hot path.
  return {
    ok: true,
    event: {
      event_id: deriveEventId(
        "event_id" in input ? (input.event_id ?? undefined) : undefined,
        input.trace_id ?? undefined,
        input.span_id ?? undefined,
      ),
      timestamp_ms: timestampMs,
      received_at_ms: ctx.nowMs,
      trace_id: input.trace_id ?? null,
      span_id: input.span_id ?? null,
      org_id: tags.org_id,
      team_id: tags.team_id,
      project_id: tags.project_id,
      user_id: tags.user_id,
      agent_id: tags.agent_id,
      session_id: tags.session_id,
      feature: tags.feature,
      task_type: tags.task_type,
      provider,
      model: input.model,
      input_tokens: counts.input_tokens,
      output_tokens: counts.output_tokens,
      total_tokens: counts.input_tokens + counts.output_tokens,
      cached_input_tokens: counts.cached_input_tokens,
      cache_creation_input_tokens: counts.cache_creation_input_tokens,
      reasoning_tokens: counts.reasoning_tokens,
      cost_micro_usd,
      cost_source,
      reservation_id: input.reservation_id ?? null,
      status: input.status ?? "ok",
      source: ctx.source,
      key_id: ctx.keyId ?? null,
    },
  };
}

/** A bound tag the event names otherwise is that field's error (tenants stay apart). */
function checkBound(input: UsageEventInput | SpanEventInput, bound: DefaultTags, errors: FieldError[]): void {
  for (const field in bound) {
    const named = input[field as keyof DefaultTags];
    const allowed = bound[field as keyof DefaultTags];
    if (named != null && named !== allowed) {
      errors.push({ path: field, message: `this API key is bound to ${field} ${JSON.stringify(allowed)}` });
    }
  }
}

type Tags = Pick<
  UsageEvent,
  "org_id" | "team_id" | "project_id" | "user_id" | "agent_id" | "session_id" | "feature" | "task_type"
>;

function resolveTags(
  input: UsageEventInput | SpanEventInput,
  defaults: DefaultTags,
  errors: FieldError[],
): Tags | null {
  // Explicit tags win over the key's defaults.
  const project_id = input.project_id ?? defaults.project_id ?? null;
  const user_id = input.user_id ?? defaults.user_id ?? null;
  const agent_id = input.agent_id ?? defaults.agent_id ?? null;
  if (project_id === null || user_id === null || agent_id === null) {
    const found = { project_id, user_id, agent_id };
    for (const field of REQUIRED_TAGS) {
      if (found[field] === null) {
        errors.push({
          path: field,
          message: "is required (absent from the event and not a default tag of the API key)",
        });
      }
    }
    return null;
  }
  return {
    org_id: input.org_id ?? defaults.org_id ?? null,
    team_id: input.team_id ?? defaults.team_id ?? null,
    project_id,
    user_id,
    agent_id,
    session_id: input.session_id ?? defaults.session_id ?? null,
    feature: input.feature ?? defaults.feature ?? null,
    task_type: input.task_type ?? defaults.task_type ?? null,
  };
}

/** A usage field and its path, split once: synonyms are read for every event on the hot path. */
interface Synonym {
  name: string;
  path: ReadonlyArray<string>;
}
const synonyms = (...names: string[]): ReadonlyArray<Synonym> => names.map((name) => ({ name, path: name.split(".") }));
/** Where each token count may be reported, first name first. */
interface TokenFields {
  input: ReadonlyArray<Synonym>;
  output: ReadonlyArray<Synonym>;
  cached: ReadonlyArray<Synonym>;
  creation: ReadonlyArray<Synonym>;
  reasoning: ReadonlyArray<Synonym>;
}
/** POST /v1/events: every name agents send, OpenAI's nested details included. */
const EVENT_TOKEN_FIELDS: TokenFields = {
  input: synonyms("input_tokens", "prompt_tokens"),
  output: synonyms("output_tokens", "completion_tokens"),
  cached: synonyms(
    "cached_tokens",
    "cached_input_tokens",
    "cache_read_input_tokens",
    "prompt_tokens_details.cached_tokens",
  ),
  creation: synonyms("cache_creation_tokens", "cache_creation_input_tokens"),
  reasoning: synonyms("reasoning_tokens", "completion_tokens_details.reasoning_tokens"),
};
/** Spans: the OTLP mapping has already chosen among the conventions' names (spanEventInputSchema). */
const SPAN_TOKEN_FIELDS: TokenFields = {
  input: synonyms("input_tokens"),
  output: synonyms("output_tokens"),
  cached: synonyms("cached_input_tokens"),
  creation: synonyms("cache_creation_input_tokens"),
  reasoning: synonyms("reasoning_tokens"),
};

/** Takes the one value among synonyms, reporting a conflict when they disagree. */
function oneOf(usage: UsageInput, names: ReadonlyArray<Synonym>, errors: FieldError[]): number | undefined {
  let chosen: Synonym | undefined;
  let chosenValue = 0;
  for (const synonym of names) {
    const value = readPath(usage, synonym.path);
    if (value === undefined) continue;
    if (chosen === undefined) {
      chosen = synonym;
      chosenValue = value;
    } else if (chosenValue !== value) {
      errors.push({
        path: `usage.${synonym.name}`,
        message: `is ${value} but usage.${chosen.name} is ${chosenValue}; synonyms must agree`,
      });
    }
  }
  return chosen === undefined ? undefined : chosenValue;
}

function readPath(usage: UsageInput, path: ReadonlyArray<string>): number | undefined {
  let node: unknown = usage;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return typeof node === "number" ? node : undefined;
}

function resolveTokens(usage: UsageInput, fields: TokenFields, errors: FieldError[]): TokenCounts | null {
  const before = errors.length;
  const input = oneOf(usage, fields.input, errors);
  const output = oneOf(usage, fields.output, errors);
  const cached = oneOf(usage, fields.cached, errors);
  const creation = oneOf(usage, fields.creation, errors);
  const reasoning = oneOf(usage, fields.reasoning, errors);
  const total = usage.total_tokens ?? undefined;

  if (input === undefined && output === undefined) {
    errors.push({
      path: "usage",
      message: "needs input_tokens (or prompt_tokens) and/or output_tokens (or completion_tokens)",
    });
    return null;
  }
  const counts: TokenCounts = {
    input_tokens: input ?? 0,
    output_tokens: output ?? 0,
    cached_input_tokens: cached ?? 0,
    cache_creation_input_tokens: creation ?? 0,
    reasoning_tokens: reasoning ?? 0,
  };
  if (counts.cached_input_tokens + counts.cache_creation_input_tokens > counts.input_tokens) {
    errors.push({
      path: `usage.${fields.cached[0]?.name}`,
      message: `cache read (${counts.cached_input_tokens}) + cache creation (${counts.cache_creation_input_tokens}) tokens exceed input tokens (${counts.input_tokens}); they are counted as part of the input`,
    });
  }
  if (counts.reasoning_tokens > counts.output_tokens) {
    errors.push({
      path: "usage.reasoning_tokens",
      message: `(${counts.reasoning_tokens}) exceed output tokens (${counts.output_tokens}); reasoning is counted as part of the output`,
    });
  }
  if (total !== undefined && total !== counts.input_tokens + counts.output_tokens) {
    errors.push({
      path: "usage.total_tokens",
      message: `is ${total} but input + output is ${counts.input_tokens + counts.output_tokens}`,
    });
  }
  return errors.length === before ? counts : null;
}

function resolveTimestamp(
  value: string | number | null | undefined,
  nowMs: number,
  errors: FieldError[],
): number | null {
  if (value === null || value === undefined) return nowMs;
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (!Number.isSafeInteger(ms)) {
    errors.push({ path: "timestamp", message: "is not a valid date-time" });
    return null;
  }
  if (ms > nowMs + MAX_FUTURE_SKEW_MS) {
    errors.push({ path: "timestamp", message: "is more than one hour in the future" });
    return null;
  }
  return ms;
}

function resolveReportedCost(value: number | string | null | undefined, errors: FieldError[]): number | null {
  if (value === null || value === undefined) return null;
  const micro = usdToMicro(value);
  if (micro === null) errors.push({ path: "cost_usd", message: "is not a representable amount of USD" });
  return micro;
}

function resolveCost(
  reportedMicro: number | null,
  model: string,
  provider: string | null,
  counts: TokenCounts,
  price: PriceFn | undefined,
): { cost_micro_usd: number; cost_source: CostSource } {
  if (reportedMicro !== null) return { cost_micro_usd: reportedMicro, cost_source: "reported" };
  const priced = price?.(model, provider, counts) ?? null;
  // Unknown is recorded as such (cost_source) so no report mistakes it for free.
  if (priced === null) return { cost_micro_usd: 0, cost_source: "unknown" };
  return { cost_micro_usd: priced.cost_micro_usd, cost_source: priced.estimated ? "estimated" : "priced" };
}
