import { hash, randomUUID } from "node:crypto";

/**
 * event_id is the idempotency key downstream (Redis guard, ClickHouse dedup).
 * Order of precedence: the id the client gave; else one derived from
 * trace_id + span_id, so a retried span maps to the same id; else a fresh
 * UUID (a retry of such an event cannot be recognised — clients that retry
 * should send an event_id).
 */
export function deriveEventId(
  given: string | undefined,
  traceId: string | undefined,
  spanId: string | undefined,
): string {
  if (given !== undefined && given.length > 0) return given;
  if (traceId && spanId) {
    // Hash so the id has a fixed length and no separator ambiguity
    // ("a:b"+"c" vs "a"+"b:c"). One-shot hash(): no Hash object per span.
    const digest = hash("sha256", `tollgate:span:${traceId.length}:${traceId}:${spanId}`, "hex");
    return `sp_${digest.slice(0, 32)}`;
  }
  return randomUUID();
}
