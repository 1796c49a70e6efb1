import type { FieldError, LogPosition, UsageEvent } from "@tollgate/events";

/** Topic names and consumer groups (ARCHITECTURE.md, "Kafka"). */
export const TOPICS = {
  usage: "tollgate.usage.v1",
  deadLetter: "tollgate.usage.dlq.v1",
  alerts: "tollgate.alerts.v1",
} as const;

export const CONSUMER_GROUPS = {
  aggregator: "tollgate-aggregator",
  sink: "tollgate-sink",
} as const;

/** Something that could not be accepted or processed, kept with its reason. */
export interface DeadLetter {
  /** Where it was refused: ingest validation, or a consumer that could not process it. */
  stage: "ingest" | "aggregator" | "sink";
  reason: string;
  errors: FieldError[];
  /** The original payload as received (JSON text, or base64 of undecodable bytes). */
  payload: string;
  key_id: string | null;
  received_at_ms: number;
}

/** Where usage events go once validated; resolves only once they are durable. */
export interface UsagePublisher {
  publish(events: ReadonlyArray<UsageEvent>): Promise<void>;
  deadLetter(letters: ReadonlyArray<DeadLetter>): Promise<void>;
  /** Throws when the bus cannot take events right now (readiness). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What a consumer does with a batch of decoded events; must be idempotent
 * per event_id. From Kafka, `positions` says where each event was read
 * (same index), so a replay of the log can be recognised by its offsets;
 * absent in embedded mode.
 */
export type UsageBatchHandler = (
  events: ReadonlyArray<UsageEvent>,
  positions?: ReadonlyArray<LogPosition>,
) => Promise<void>;

/** The routing key: one user's events share a partition and stay in order. */
export function usagePartitionKey(event: Pick<UsageEvent, "org_id" | "user_id">): string {
  return `${event.org_id ?? ""}\u0000${event.user_id}`;
}
