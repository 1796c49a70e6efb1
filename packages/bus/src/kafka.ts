import {
  encodeUsageEvent,
  SCHEMA_FINGERPRINT_HEADER,
  USAGE_EVENT_FINGERPRINT,
  type UsageEvent,
} from "@tollgate/events";
import { Kafka, logLevel, type Message, type Producer } from "kafkajs";
import type { Logger } from "pino";
import { createGroupCommitter } from "./group-commit";
import { type DeadLetter, TOPICS, type UsagePublisher, usagePartitionKey } from "./topics";

export function createKafka(options: { clientId: string; brokers: string[]; logger: Logger }): Kafka {
  const log = options.logger.child({ component: "kafkajs" });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry;
        if (level <= logLevel.ERROR) log.error(rest, message);
        else if (level === logLevel.WARN) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}

/**
 * Publishes Avro-encoded events with acks from all in-sync replicas. `publish`
 * resolves only after the broker has the records, so ingest acknowledges
 * nothing that is not on the topic; a send that still fails after kafkajs'
 * retries rejects, and the caller answers 503 instead of 202.
 * Not idempotent at the producer (the librdkafka mock broker lacks it): a
 * retried send may duplicate a record, and consumers dedupe by event_id.
 */
export async function createKafkaPublisher(kafka: Kafka): Promise<UsagePublisher & { producer: Producer }> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 5 });
  await producer.connect();
  let connected = true;
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
  });
  producer.on(producer.events.CONNECT, () => {
    connected = true;
  });

  // Concurrent requests share produce requests: larger batches per
  // partition, fewer round trips, and still no ack before the broker's.
  const usage = createGroupCommitter<Message>(
    async (messages) => {
      await producer.send({ topic: TOPICS.usage, acks: -1, messages });
    },
    { concurrency: 4, maxItems: 5_000 },
  );

  return {
    producer,
    // Encoded on the way in: only the records wait for the broker, and the
    // events (an object and a dozen strings each) die young instead of
    // being promoted while their request waits for its ack.
    publish: async (events) => usage.submit(events.map(usageRecord)),
    deadLetter: (letters: ReadonlyArray<DeadLetter>) =>
      sendJson(producer, TOPICS.deadLetter, letters, (letter) => ({
        key: letter.stage,
        headers: { "tollgate-stage": letter.stage, "tollgate-reason": letter.reason.slice(0, 200) },
      })),
    async ready() {
      if (!connected) throw new Error("Kafka producer is disconnected");
    },
    async close() {
      await usage.drain();
      await producer.disconnect();
    },
  };
}

/** A usage event as its tollgate.usage.v1 record: Avro value, fingerprint header, key per ARCHITECTURE.md. */
function usageRecord(event: UsageEvent): Message {
  return {
    key: usagePartitionKey(event),
    value: encodeUsageEvent(event),
    headers: RECORD_HEADERS,
    timestamp: String(event.received_at_ms),
  };
}
const RECORD_HEADERS = { [SCHEMA_FINGERPRINT_HEADER]: USAGE_EVENT_FINGERPRINT };

/**
 * Budget alerts on tollgate.alerts.v1: JSON values keyed by budget id (one
 * budget's alerts stay in order), acks from all in-sync replicas; resolves
 * only once the broker has them (callers mark an alert sent only then).
 */
export async function createAlertPublisher(kafka: Kafka) {
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  await producer.connect();
  return {
    publish: (alerts: ReadonlyArray<{ budget_id: string; alert_id: string }>) =>
      sendJson(producer, TOPICS.alerts, alerts, (alert) => ({
        key: alert.budget_id,
        headers: { "tollgate-alert-id": alert.alert_id },
      })),
    close: () => producer.disconnect(),
  };
}

/** JSON records (dead letters, alerts) with acks from all in-sync replicas; resolves once the broker has them. */
async function sendJson<T>(
  producer: Producer,
  topic: string,
  items: ReadonlyArray<T>,
  meta: (item: T) => { key: string; headers: Record<string, string> },
): Promise<void> {
  if (items.length === 0) return;
  await producer.send({
    topic,
    acks: -1,
    messages: items.map((item) => ({ ...meta(item), value: JSON.stringify(item) })),
  });
}
