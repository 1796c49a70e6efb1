import type { Attributes, AttributeValue, OtlpSpan } from "./decode";

/**
 * Which spans of an OTLP request are usage, and the usage event input
 * (POST /v1/events shape) each one becomes. Validation, defaults from the API
 * key and pricing happen after, in the one normaliser every report goes
 * through.
 *
 * Counting rule: a model call is counted once, at the span that made it.
 * - `gen_ai.operation.name` of a model call (chat, text_completion,
 *   generate_content, embeddings) → counted.
 * - agent-level operations (invoke_agent, create_agent, execute_tool, …)
 *   often repeat their children's totals → never counted; they lend their
 *   agent identity to the spans below them.
 * - no operation name but GenAI token attributes (older instrumentations) →
 *   counted too.
 * - in both cases only the innermost: a span with counted usage below it in
 *   the same request is not counted on top of it.
 * - OpenClaw, decided by the span name before anything else:
 *   `openclaw.model.usage` is its accounting span → counted;
 *   `openclaw.model.call` repeats it → never counted, whatever GenAI
 *   attributes (gen_ai.operation.name, gen_ai.usage.*) it carries; nor
 *   under its GenAI name (it then carries openclaw.model_call.*).
 * Everything else is not usage: ignored, not rejected.
 */
export const MODEL_CALL_OPERATIONS: ReadonlySet<string> = new Set([
  "chat",
  "text_completion",
  "generate_content",
  "embeddings",
]);
const OPENCLAW_USAGE_SPAN = "openclaw.model.usage";
const OPENCLAW_CALL_SPAN = "openclaw.model.call";
/**
 * Set on every OpenClaw model-call span, also when OpenClaw names it after
 * the GenAI conventions ("chat gpt-5", under
 * OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental) instead of
 * openclaw.model.call: the same span, never counted either.
 */
const OPENCLAW_CALL_MARK = "openclaw.model_call.observation_unit";
const OPENCLAW_INPUT = "openclaw.tokens.input";

/** First attribute present wins: current semantic-convention names before older ones. */
const NAMES = {
  // openclaw.tokens.input is read apart (inputTokens): it leaves the cache out.
  input: ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
  output: ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "openclaw.tokens.output"],
  cacheRead: [
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cached_tokens",
    "openclaw.tokens.cache_read",
  ],
  cacheCreation: [
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "openclaw.tokens.cache_write",
  ],
  reasoning: ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"],
  model: ["gen_ai.response.model", "gen_ai.request.model", "openclaw.model"],
  provider: ["gen_ai.provider.name", "gen_ai.system", "openclaw.provider"],
  cost: ["tollgate.cost_usd"],
} as const;

/** Identity: from the span, else the nearest enclosing span that has it, else the resource. */
const IDENTITY = {
  user_id: ["tollgate.user.id", "user.id", "enduser.id"],
  session_id: ["tollgate.session.id", "session.id", "gen_ai.conversation.id"],
  agent_id: ["tollgate.agent.id", "gen_ai.agent.id", "gen_ai.agent.name", "openclaw.agent"],
  project_id: ["tollgate.project.id"],
  team_id: ["tollgate.team.id"],
  org_id: ["tollgate.org.id"],
  feature: ["tollgate.feature"],
  task_type: ["tollgate.task.type"],
  reservation_id: ["tollgate.reservation.id"],
} as const;

export interface SpanUsage {
  span: OtlpSpan;
  /** A usage event input for normalizeUsageEvent. */
  input: Record<string, unknown>;
}

export interface SpansToUsage {
  usage: SpanUsage[];
  /** Model calls that cannot be usage (no token counts): rejected, with the reason. */
  rejected: Array<{ span: OtlpSpan; reason: string }>;
  /** Spans that are not usage at all. */
  ignored: number;
}

type Kind = "model_call" | "maybe_usage" | "not_usage";

export function spansToUsage(spans: ReadonlyArray<OtlpSpan>): SpansToUsage {
  const byId = new Map<string, OtlpSpan>();
  for (const span of spans) byId.set(spanKey(span.traceId, span.spanId), span);
  const parentOf = (span: OtlpSpan) =>
    span.parentSpanId ? byId.get(spanKey(span.traceId, span.parentSpanId)) : undefined;
  // A chain of parents is at most as long as the request has spans; a cycle
  // of parent ids is cut there instead of looping forever.
  const ancestors: Ancestors = { parentOf, maxDepth: spans.length };

  // Per span, in request order: what it is, and whether it carries tokens.
  const kinds = spans.map(kindOf);
  const withTokens = spans.map((span) => hasTokens(span.attributes));
  // Only the innermost usage is counted: a span with usage below it (a
  // wrapper that sums its children, or a framework's chat span around the
  // provider client's chat span) would count the same tokens twice.
  const hasCountedDescendant = new Set<OtlpSpan>();
  spans.forEach((span, i) => {
    if (kinds[i] === "not_usage" || !withTokens[i]) return;
    let depth = 0;
    for (let p = parentOf(span); p && depth < ancestors.maxDepth; p = parentOf(p), depth++) {
      hasCountedDescendant.add(p);
    }
  });

  // The resource's own tags, read once per resource rather than once per span.
  const resourceTags = new Map<Attributes, Tags>();
  const result: SpansToUsage = { usage: [], rejected: [], ignored: 0 };
  spans.forEach((span, i) => {
    if (kinds[i] === "not_usage" || hasCountedDescendant.has(span)) {
      result.ignored++;
      return;
    }
    if (span.malformed !== undefined) {
      // Refused, not counted with altered text: the UTF-8 stores cannot keep it as sent.
      result.rejected.push({
        span,
        reason: `${span.path}.${span.malformed}: must be well-formed Unicode (invalid UTF-8 or a lone UTF-16 surrogate)`,
      });
      return;
    }
    if (!withTokens[i]) {
      result.rejected.push({
        span,
        reason: `${span.path}: model-call span "${span.name}" carries no token usage (gen_ai.usage.input_tokens / output_tokens)`,
      });
      return;
    }
    let fromResource = resourceTags.get(span.resource);
    if (!fromResource) {
      fromResource = tagsOf(span.resource);
      resourceTags.set(span.resource, fromResource);
    }
    result.usage.push({ span, input: toEventInput(span, ancestors, fromResource) });
  });
  return result;
}

function kindOf(span: OtlpSpan): Kind {
  // OpenClaw's span names decide before any GenAI attribute: current OpenClaw
  // puts gen_ai.operation.name = "chat" and gen_ai.usage.* on model.call too,
  // and reading the operation first counted a run twice (issue 13).
  if (span.name === OPENCLAW_USAGE_SPAN) return "model_call";
  if (span.name === OPENCLAW_CALL_SPAN || span.attributes[OPENCLAW_CALL_MARK] !== undefined) return "not_usage";
  const operation = span.attributes["gen_ai.operation.name"];
  if (typeof operation === "string") return MODEL_CALL_OPERATIONS.has(operation) ? "model_call" : "not_usage";
  return hasTokens(span.attributes) ? "maybe_usage" : "not_usage";
}

function hasTokens(attrs: Attributes): boolean {
  return (
    first(attrs, NAMES.input) !== undefined ||
    first(attrs, NAMES.output) !== undefined ||
    first(attrs, [OPENCLAW_INPUT]) !== undefined
  );
}

/**
 * Input tokens, cache reads and writes included (the internal convention).
 * OpenClaw's own openclaw.tokens.input leaves them out — its
 * gen_ai.usage.input_tokens is input + cache_read + cache_write — so when
 * only its own names are there, the cache is added back.
 */
function inputTokens(attrs: Attributes): unknown {
  const genAi = first(attrs, NAMES.input);
  if (genAi !== undefined) return tokenValue(genAi);
  const own = tokenValue(first(attrs, [OPENCLAW_INPUT]));
  if (typeof own !== "number") return own;
  const read = tokenValue(attrs["openclaw.tokens.cache_read"] ?? 0);
  const write = tokenValue(attrs["openclaw.tokens.cache_write"] ?? 0);
  return typeof read === "number" && typeof write === "number" ? own + read + write : own;
}

interface Ancestors {
  parentOf: (span: OtlpSpan) => OtlpSpan | undefined;
  maxDepth: number;
}

/** The identity tags, model and provider that one set of attributes carries. */
type Tags = Record<keyof typeof IDENTITY | "model" | "provider", AttributeValue | undefined>;

function tagsOf(attrs: Attributes): Tags {
  return {
    user_id: first(attrs, IDENTITY.user_id),
    session_id: first(attrs, IDENTITY.session_id),
    agent_id: first(attrs, IDENTITY.agent_id),
    project_id: first(attrs, IDENTITY.project_id),
    team_id: first(attrs, IDENTITY.team_id),
    org_id: first(attrs, IDENTITY.org_id),
    feature: first(attrs, IDENTITY.feature),
    task_type: first(attrs, IDENTITY.task_type),
    reservation_id: first(attrs, IDENTITY.reservation_id),
    model: first(attrs, NAMES.model),
    provider: first(attrs, NAMES.provider),
  };
}

/** Built as one literal (one object shape for every span), the span's own values before the resource's. */
function toEventInput(span: OtlpSpan, ancestors: Ancestors, resource: Tags): Record<string, unknown> {
  const attrs = span.attributes;
  return {
    trace_id: span.traceId || undefined,
    span_id: span.spanId || undefined,
    timestamp: span.endTimeMs ?? span.startTimeMs ?? undefined,
    user_id: identity(span, "user_id", ancestors, resource),
    session_id: identity(span, "session_id", ancestors, resource),
    agent_id: identity(span, "agent_id", ancestors, resource),
    project_id: identity(span, "project_id", ancestors, resource),
    team_id: identity(span, "team_id", ancestors, resource),
    org_id: identity(span, "org_id", ancestors, resource),
    feature: identity(span, "feature", ancestors, resource),
    task_type: identity(span, "task_type", ancestors, resource),
    reservation_id: identity(span, "reservation_id", ancestors, resource),
    provider: first(attrs, NAMES.provider) ?? resource.provider,
    model: first(attrs, NAMES.model) ?? resource.model,
    usage: {
      input_tokens: inputTokens(attrs),
      output_tokens: tokenValue(first(attrs, NAMES.output)),
      cached_input_tokens: tokenValue(first(attrs, NAMES.cacheRead)),
      cache_creation_input_tokens: tokenValue(first(attrs, NAMES.cacheCreation)),
      reasoning_tokens: tokenValue(first(attrs, NAMES.reasoning)),
    },
    cost_usd: first(attrs, NAMES.cost),
    status: span.error ? "error" : "ok",
  };
}

/** An identity tag: from the span, else the nearest enclosing span that has it, else the resource. */
function identity(
  span: OtlpSpan,
  field: keyof typeof IDENTITY,
  ancestors: Ancestors,
  resource: Tags,
): AttributeValue | undefined {
  const names = IDENTITY[field];
  let value: AttributeValue | undefined;
  let depth = 0;
  for (let s: OtlpSpan | undefined = span; s && depth <= ancestors.maxDepth; s = ancestors.parentOf(s), depth++) {
    value = first(s.attributes, names);
    if (value !== undefined) break;
  }
  value ??= resource[field];
  // A numeric user id is still an id.
  return typeof value === "number" ? String(value) : value;
}

function first(attrs: Attributes, names: ReadonlyArray<string>): AttributeValue | undefined {
  for (const name of names) {
    const value = attrs[name];
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

/** Token counts arrive as ints, sometimes as strings or whole doubles; anything else goes on to fail validation. */
function tokenValue(value: AttributeValue | undefined): unknown {
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return value;
}

function spanKey(traceId: string, spanId: string): string {
  return `${traceId}/${spanId}`;
}

export type { Attributes };
