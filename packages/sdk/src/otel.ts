import type { Subject } from "./types.js";

/**
 * Tollgate identity on OpenTelemetry spans: a SpanProcessor that stamps the
 * `tollgate.*` attributes Tollgate's `/v1/traces` reads (user, project,
 * agent, …) onto every span as it starts, so agents that already export
 * GenAI spans are attributed without code at every call. Typed
 * structurally: nothing is imported from `@opentelemetry/*`.
 */

/** The span attribute Tollgate's OTLP ingest reads each identity from. */
export const TOLLGATE_ATTRIBUTES = {
  orgId: "tollgate.org.id",
  teamId: "tollgate.team.id",
  projectId: "tollgate.project.id",
  userId: "tollgate.user.id",
  agentId: "tollgate.agent.id",
  sessionId: "tollgate.session.id",
  feature: "tollgate.feature",
  taskType: "tollgate.task.type",
} as const satisfies Record<keyof Subject, string>;

/** What the processor needs of a span (the SDK's `Span` fits). */
export interface SpanLike {
  readonly attributes?: Record<string, unknown>;
  setAttribute(key: string, value: string): unknown;
}

/** What the processor needs of a context (`@opentelemetry/api`'s `Context` fits). */
export interface ContextLike {
  getValue(key: symbol): unknown;
}

/** `@opentelemetry/sdk-trace-base`'s SpanProcessor, structurally. */
export interface TollgateSpanProcessor {
  onStart(span: SpanLike, parentContext: ContextLike): void;
  onEnd(span: unknown): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TollgateSpanProcessorOptions {
  /**
   * Identities stamped on every span, or a function read at each span's
   * start (e.g. from an AsyncLocalStorage holding the current request's user).
   */
  subject?: Subject | (() => Subject | undefined);
  /**
   * Also read identities from W3C baggage entries named like the
   * attributes (`tollgate.user.id`, …), which cross process boundaries with
   * the trace. Baggage wins over `subject`. Default true.
   */
  baggage?: boolean;
}

// @opentelemetry/api keys baggage in a context by Symbol.for(this description), the
// same in every copy of the package: read without importing it.
const BAGGAGE_KEY = Symbol.for("OpenTelemetry Baggage Key");

interface BaggageLike {
  getEntry(key: string): { value: string } | undefined;
}

/**
 * The processor. Attributes a span already carries (set by the caller or
 * an instrumentation) are kept; only missing ones are stamped. Register it
 * before the exporting processor (`spanProcessors: [tollgateSpanProcessor(…),
 * new BatchSpanProcessor(exporter)]`).
 */
export function tollgateSpanProcessor(options: TollgateSpanProcessorOptions = {}): TollgateSpanProcessor {
  const useBaggage = options.baggage ?? true;
  const subjectOf = typeof options.subject === "function" ? options.subject : () => options.subject as Subject;
  return {
    onStart(span, parentContext) {
      const subject = subjectOf() ?? {};
      const baggage = useBaggage ? (parentContext?.getValue(BAGGAGE_KEY) as BaggageLike | undefined) : undefined;
      for (const [field, attribute] of Object.entries(TOLLGATE_ATTRIBUTES)) {
        if (span.attributes?.[attribute] !== undefined) continue;
        const value = baggage?.getEntry(attribute)?.value ?? subject[field as keyof Subject];
        if (typeof value === "string" && value !== "") span.setAttribute(attribute, value);
      }
    },
    onEnd() {},
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/** Baggage entries for a subject, for `propagation.createBaggage(tollgateBaggage(subject))`. */
export function tollgateBaggage(subject: Subject): Record<string, { value: string }> {
  const entries: Record<string, { value: string }> = {};
  for (const [field, attribute] of Object.entries(TOLLGATE_ATTRIBUTES)) {
    const value = subject[field as keyof Subject];
    if (value) entries[attribute] = { value };
  }
  return entries;
}
