import { randomUUID } from "node:crypto";
import { TOPICS, usagePartitionKey } from "@tollgate/bus";
import {
  encodeUsageEvent,
  SCHEMA_FINGERPRINT_HEADER,
  USAGE_EVENT_FINGERPRINT,
  type UsageEvent,
} from "@tollgate/events";
import { Kafka, logLevel } from "kafkajs";
import { percentile } from "./table";

/**
 * The ceiling for ingest: a kafkajs producer alone, sending the records
 * ingest would send (same Avro, key, header, acks) to the same broker with
 * the same concurrency, and nothing else — no HTTP, no validation.
 */
export async function rawProducerRun(options: {
  brokers: string;
  seconds: number;
  concurrency: number;
  batch: number;
}): Promise<{ eventsPerSecond: number; p50Ms: number; p99Ms: number }> {
  const kafka = new Kafka({ clientId: "bench-raw", brokers: [options.brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 5 });
  await producer.connect();
  const now = Date.now();
  // Fresh ids per send, like distinct reports; encoding is part of the work ingest does too.
  const message = (i: number) => {
    const event: UsageEvent = {
      event_id: randomUUID(),
      timestamp_ms: now,
      received_at_ms: now,
      trace_id: null,
      span_id: null,
      org_id: null,
      team_id: null,
      project_id: "bench_project",
      user_id: `user_${i % 50}`,
      agent_id: "bench-agent",
      session_id: null,
      feature: null,
      task_type: null,
      provider: null,
      model: "gpt-4o",
      input_tokens: 1040,
      output_tokens: 450,
      total_tokens: 1490,
      cached_input_tokens: 0,
      cache_creation_input_tokens: 0,
      reasoning_tokens: 0,
      cost_micro_usd: 7100,
      cost_source: "priced",
      reservation_id: null,
      status: "ok",
      source: "json",
      key_id: "bench",
    };
    return {
      key: usagePartitionKey(event),
      value: encodeUsageEvent(event),
      headers: { [SCHEMA_FINGERPRINT_HEADER]: USAGE_EVENT_FINGERPRINT },
    };
  };
  const send = () =>
    producer.send({
      topic: TOPICS.usage,
      acks: -1,
      messages: Array.from({ length: options.batch }, (_, i) => message(i)),
    });

  const run = async (ms: number, latencies: number[] | null) => {
    const until = Date.now() + ms;
    let sent = 0;
    const loop = async () => {
      while (Date.now() < until) {
        const started = performance.now();
        await send();
        latencies?.push(performance.now() - started);
        sent += options.batch;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, loop));
    return sent;
  };

  try {
    await run(2_000, null); // warm-up
    const latencies: number[] = [];
    const started = performance.now();
    const sent = await run(options.seconds * 1000, latencies);
    const elapsedS = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      eventsPerSecond: sent / elapsedS,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
    };
  } finally {
    await producer.disconnect();
  }
}
