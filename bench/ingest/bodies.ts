/**
 * What each workload sends: the JSON batch, the OTLP export request, and the
 * Avro records of the raw producer. All three describe the same 100 model
 * calls (users u0…u99, project p1, agent a1, gpt-4o, 1,040 in / 450 out), so
 * the records on the topic and their spread over partitions are alike.
 */
import { randomUUID } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { usagePartitionKey } from "@tollgate/bus";
import {
  encodeUsageEvent,
  SCHEMA_FINGERPRINT_HEADER,
  sampleUsageEvent,
  USAGE_EVENT_FINGERPRINT,
  type UsageEvent,
} from "@tollgate/events";

export const BATCH = 100;
const INPUT_TOKENS = 1040;
const OUTPUT_TOKENS = 450;

/** POST /v1/events body: `{"events": [...]}` with one event per user. */
export function jsonBody(): string {
  return JSON.stringify({
    events: Array.from({ length: BATCH }, (_, i) => ({
      project_id: "p1",
      user_id: `u${i}`,
      agent_id: "a1",
      model: "gpt-4o",
      usage: { prompt_tokens: INPUT_TOKENS, completion_tokens: OUTPUT_TOKENS },
    })),
  });
}

/**
 * POST /v1/traces body: an ExportTraceServiceRequest with 100 `chat` spans,
 * made by the SDK and serialised by the exporter's own serializer, so the
 * bytes are what a real OpenTelemetry exporter would send.
 */
export async function otlpBody(): Promise<Buffer> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "bench-agent" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("tollgate-bench");
  for (let i = 0; i < BATCH; i++) {
    tracer
      .startSpan("chat gpt-4o", {
        kind: SpanKind.CLIENT,
        attributes: {
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": "gpt-4o",
          "gen_ai.usage.input_tokens": INPUT_TOKENS,
          "gen_ai.usage.output_tokens": OUTPUT_TOKENS,
          "user.id": `u${i}`,
          "gen_ai.agent.id": "a1",
          "tollgate.project.id": "p1",
        },
      })
      .end();
  }
  // SimpleSpanProcessor exports on end, possibly after a microtask; flush to be sure all 100 are there.
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  if (spans.length !== BATCH) throw new Error(`expected ${BATCH} finished spans, got ${spans.length}`);
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error("ProtobufTraceSerializer returned nothing");
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The key id ingest stamps on events reported with the bootstrap admin key. */
const ADMIN_KEY_ID = "bootstrap-admin";

/**
 * The Kafka messages ingest would publish for one JSON batch: the normalised
 * events (fresh event_id, priced cost), Avro-encoded, keyed and tagged as
 * packages/bus/src/kafka.ts does. Built per send, because ingest encodes per
 * request too; encoding is part of the work being compared.
 */
export function usageMessages(nowMs: number) {
  return Array.from({ length: BATCH }, (_, i) => {
    const event: UsageEvent = sampleUsageEvent({
      event_id: randomUUID(),
      timestamp_ms: nowMs,
      received_at_ms: nowMs,
      org_id: null,
      project_id: "p1",
      user_id: `u${i}`,
      agent_id: "a1",
      input_tokens: INPUT_TOKENS,
      output_tokens: OUTPUT_TOKENS,
      total_tokens: INPUT_TOKENS + OUTPUT_TOKENS,
      cost_micro_usd: 7_100, // gpt-4o: 1040 × 2.5 + 450 × 10 USD per million tokens
      key_id: ADMIN_KEY_ID,
    });
    return {
      key: usagePartitionKey(event),
      value: encodeUsageEvent(event),
      headers: { [SCHEMA_FINGERPRINT_HEADER]: USAGE_EVENT_FINGERPRINT },
      timestamp: String(event.received_at_ms),
    };
  });
}
