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

/**
 * Earlier writer schemas a consumer still reads (records written before an
 * upgrade stay in the topic): each by its fingerprint, resolved to the
 * current schema. The first: before the "unsettled" event source.
 */
const EARLIER_SCHEMAS = [
  {
    ...usageEventAvroSchema,
    fields: usageEventAvroSchema.fields.map((field) =>
      field.name === "source"
        ? { name: "source", type: { type: "enum", name: "EventSource", symbols: ["json", "otlp"] } }
        : field,
    ),
  },
];
const readers = new Map<string, (buffer: Buffer) => UsageEvent>([
  [USAGE_EVENT_FINGERPRINT, (buffer) => usageEventType.fromBuffer(buffer) as UsageEvent],
  ...EARLIER_SCHEMAS.map((schema): [string, (buffer: Buffer) => UsageEvent] => {
    const writer = avro.Type.forSchema(schema as unknown as avro.Schema);
    const resolver = usageEventType.createResolver(writer);
    return [
      writer.fingerprint("sha256").toString("hex"),
      (buffer) => usageEventType.fromBuffer(buffer, resolver) as UsageEvent,
    ];
  }),
]);

/** Decodes a record written with the schema of `fingerprint` (current or earlier); throws for an unknown one. */
export function decodeUsageEventWritten(fingerprint: string | undefined, buffer: Buffer): UsageEvent {
  const read = fingerprint === undefined ? undefined : readers.get(fingerprint);
  if (!read) throw new Error(`schema fingerprint ${fingerprint ?? "(missing)"} is not one this consumer reads`);
  return read(buffer);
}

/** The fingerprints of the schemas a consumer reads, current first. */
export const READABLE_FINGERPRINTS: ReadonlyArray<string> = [...readers.keys()];

/** Encodes with an earlier schema (tests of an upgrade): the index in EARLIER_SCHEMAS. */
export function encodeWithEarlierSchema(event: UsageEvent, index = 0): { fingerprint: string; buffer: Buffer } {
  const writer = avro.Type.forSchema(EARLIER_SCHEMAS[index] as unknown as avro.Schema);
  return { fingerprint: writer.fingerprint("sha256").toString("hex"), buffer: writer.toBuffer(event) };
}

export function encodeUsageEvent(event: UsageEvent): Buffer {
  return usageEventType.toBuffer(event);
}

export function decodeUsageEvent(buffer: Buffer): UsageEvent {
  return usageEventType.fromBuffer(buffer) as UsageEvent;
}
