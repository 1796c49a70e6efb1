import avro from "avsc";
import { COST_SOURCES, EVENT_SOURCES, type UsageEvent } from "./usage-event";

/**
 * The Avro schema of tollgate.usage.v1. Its fingerprint travels in a record
 * header so a consumer can tell which schema wrote a record before decoding.
 * Evolve it only compatibly (new fields with defaults).
 */
const nullableString = (name: string) => ({ name, type: ["null", "string"], default: null });
const long = (name: string) => ({ name, type: "long" });

export const usageEventAvroSchema = {
  type: "record",
  name: "UsageEvent",
  namespace: "io.tollgate.v1",
  fields: [
    { name: "event_id", type: "string" },
    long("timestamp_ms"),
    long("received_at_ms"),
    nullableString("trace_id"),
    nullableString("span_id"),
    nullableString("org_id"),
    nullableString("team_id"),
    { name: "project_id", type: "string" },
    { name: "user_id", type: "string" },
    { name: "agent_id", type: "string" },
    nullableString("session_id"),
    nullableString("feature"),
    nullableString("task_type"),
    nullableString("provider"),
    { name: "model", type: "string" },
    long("input_tokens"),
    long("output_tokens"),
    long("total_tokens"),
    long("cached_input_tokens"),
    long("cache_creation_input_tokens"),
    long("reasoning_tokens"),
    long("cost_micro_usd"),
    { name: "cost_source", type: { type: "enum", name: "CostSource", symbols: [...COST_SOURCES] } },
    nullableString("reservation_id"),
    { name: "status", type: { type: "enum", name: "Status", symbols: ["ok", "error"] } },
    { name: "source", type: { type: "enum", name: "EventSource", symbols: [...EVENT_SOURCES] } },
    nullableString("key_id"),
  ],
} as const;

export const usageEventType = avro.Type.forSchema(usageEventAvroSchema as unknown as avro.Schema);

/** Header name carrying the writer schema's fingerprint on every record. */
export const SCHEMA_FINGERPRINT_HEADER = "tollgate-schema-fingerprint";

/** SHA-256 of the schema's Parsing Canonical Form, hex. */
export const USAGE_EVENT_FINGERPRINT = usageEventType.fingerprint("sha256").toString("hex");

export function encodeUsageEvent(event: UsageEvent): Buffer {
  return usageEventType.toBuffer(event);
}

export function decodeUsageEvent(buffer: Buffer): UsageEvent {
  return usageEventType.fromBuffer(buffer) as UsageEvent;
}
