import { type Attributes, trace } from "@opentelemetry/api";
import type { Principal } from "@tollgate/auth";
import type { DeadLetter, UsagePublisher } from "@tollgate/bus";
import {
  type EventSource,
  type FieldError,
  type NormalizeContext,
  normalizeSpanEvent,
  normalizeUsageEvent,
  type PriceFn,
  type UsageEvent,
} from "@tollgate/events";
import { withTimeout } from "@tollgate/kit";

export interface Acceptance {
  accepted: UsageEvent[];
  rejected: Array<{ index: number; errors: FieldError[] }>;
  letters: DeadLetter[];
}

/**
 * Validates and normalises every item on its own, so one bad item never
 * costs the batch its good ones. The same for JSON events and OTLP spans.
 * `payloadOf` is what the dead letter of a rejected item keeps (by default
 * the item as JSON); it is only called for those.
 */
export function acceptItems(
  items: ReadonlyArray<unknown>,
  ctx: { principal: Principal; nowMs: number; source: EventSource; price: PriceFn },
  payloadOf: (index: number) => string = (index) => safeStringify(items[index]),
): Acceptance {
  // Spans arrive already mapped to the canonical fields, and are checked against those only.
  const normalize = ctx.source === "otlp" ? normalizeSpanEvent : normalizeUsageEvent;
  const { defaultTags, boundTags } = ctx.principal;
  const isBound = Object.keys(boundTags).length > 0;
  const normalizeContext: NormalizeContext = {
    nowMs: ctx.nowMs,
    source: ctx.source,
    // Bound tags fill in as well, and win over defaults (tenancy.ts in @tollgate/auth).
    defaults: isBound ? { ...defaultTags, ...boundTags } : defaultTags,
    ...(isBound ? { bound: boundTags } : {}),
    keyId: ctx.principal.keyId,
    price: ctx.price,
  };
  const result: Acceptance = { accepted: [], rejected: [], letters: [] };
  for (let index = 0; index < items.length; index++) {
    const normalized = normalize(items[index], normalizeContext);
    if (normalized.ok) {
      result.accepted.push(normalized.event);
      continue;
    }
    result.rejected.push({ index, errors: normalized.errors });
    result.letters.push(
      deadLetter(
        `invalid usage event: ${normalized.errors.map((e) => `${e.path} ${e.message}`).join("; ")}`,
        payloadOf(index),
        ctx,
        normalized.errors,
      ),
    );
  }
  return result;
}

export function deadLetter(
  reason: string,
  payload: string,
  ctx: { principal: Principal | null; nowMs: number },
  errors: FieldError[] = [],
): DeadLetter {
  return {
    stage: "ingest",
    reason,
    errors,
    payload,
    key_id: ctx.principal?.keyId ?? null,
    received_at_ms: ctx.nowMs,
  };
}

/**
 * Hands a request's outcome to the bus: dead letters first, then events.
 * If the dead letters cannot be kept, nothing is published, and the client's
 * retry of the whole request cannot double count. Bounded by a timeout so a
 * broker outage answers 503 instead of holding the request (and its memory).
 * A timed-out publish may still land later; the client's retry then carries
 * the same event ids and consumers dedupe them.
 *
 * Without dead letters the events go to the publisher at once, which turns
 * them into records as it takes them: neither this function nor its caller
 * needs the events while the request waits for the broker's ack, so they die
 * young instead of being promoted to the old generation (callers keep only
 * the counts their reply needs).
 */
export function handOff(
  publisher: UsagePublisher,
  acceptance: Pick<Acceptance, "accepted" | "letters">,
  timeoutMs: number,
): Promise<void> {
  const { accepted, letters } = acceptance;
  const handed =
    letters.length === 0
      ? publisher.publish(accepted)
      : publisher.deadLetter(letters).then(() => publisher.publish(accepted));
  return withTimeout(handed, timeoutMs, `the bus did not take the events within ${timeoutMs} ms`);
}

const tracer = trace.getTracer("tollgate-ingest");

/**
 * Waits for a started hand-off in an "ingest.publish" span: resolves with
 * the bus's error, or null once the bus has everything. It takes the
 * promise, not the events, and callers return it rather than await it, so no
 * frame that held the request's events or body is suspended on the broker's
 * ack (a suspended async frame keeps even its dead locals alive).
 */
export function awaitHandOff(handed: Promise<void>, attributes: Attributes): Promise<unknown> {
  return tracer.startActiveSpan("ingest.publish", { attributes }, (span) =>
    handed
      .then(
        () => null,
        (err: unknown) => err ?? new Error("the bus refused the events"),
      )
      .finally(() => span.end()),
  );
}

export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    return String(value);
  }
}
