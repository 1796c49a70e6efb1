import { randomUUID } from "node:crypto";
import { TOPICS } from "@tollgate/bus";
import { decodeUsageEvent } from "@tollgate/events";
import type { SqlStore } from "@tollgate/sql";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, type RunningProcess, startService } from "../support/processes";

/** The issue asks for an outage of at least 20 s under load. */
const OUTAGE_MS = 20_000;
const WORKERS = 6;
const BATCH = 20;

/**
 * Broker down under load: ingest must acknowledge (2xx) only what the broker
 * has. Clients behave like OTLP exporters: on 503/429 they wait Retry-After
 * and send the same batch again (same event ids). Afterwards the topic holds
 * every acknowledged event, and no event that was never acknowledged.
 */
describe("ingest with the broker down", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  let broker: PrivateBroker;
  let store: SqlStore;
  let ingest: RunningProcess;
  let url = "";

  beforeAll(async () => {
    broker = await startPrivateBroker(3);
    store = await freshClickHouseDatabase();
    ({ proc: ingest, url } = await startService("ingest", {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      INGEST_PUBLISH_TIMEOUT_MS: "2000",
      LOG_LEVEL: "info",
    }));
  });

  afterAll(async () => {
    await ingest?.stop();
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  it("acknowledges only what reached the topic, through a 20 s outage", async () => {
    const acknowledged = new Set<string>();
    const statuses = new Map<number, number>();
    let running = true;
    let outage = false;
    let refusedDuringOutage = 0;

    const sendUntilAcknowledged = async (ids: string[]) => {
      const body = JSON.stringify({
        events: ids.map((id, i) => ({
          event_id: id,
          project_id: "p",
          user_id: `u${i % 7}`,
          agent_id: "a",
          model: "gpt-4o",
          usage: { input_tokens: 10, output_tokens: 1 },
        })),
      });
      for (;;) {
        const res = await fetch(`${url}/v1/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
          body,
        });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) {
          for (const id of ids) acknowledged.add(id);
          return;
        }
        if (outage) refusedDuringOutage++;
        // An exporter's backoff, honouring Retry-After (capped to keep the test short).
        const retryAfterS = Number(res.headers.get("retry-after") ?? "1");
        await new Promise((resolve) => setTimeout(resolve, Math.min(retryAfterS, 1) * 1000));
      }
    };
    const worker = async () => {
      while (running) await sendUntilAcknowledged(Array.from({ length: BATCH }, () => randomUUID()));
    };
    const workers = Array.from({ length: WORKERS }, worker);

    await eventually(async () => (acknowledged.size >= 500 ? true : undefined), "load flowing before the outage");
    broker.command("down all");
    outage = true;
    const ackedAtOutage = acknowledged.size;
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const ackedDuringOutage = acknowledged.size - ackedAtOutage;
    outage = false;
    broker.command("up all");
    const ackedAtRecovery = acknowledged.size;
    await eventually(
      async () => (acknowledged.size >= ackedAtRecovery + 500 ? true : undefined),
      "load flowing again after the broker returned",
      60_000,
    );
    running = false;
    await Promise.all(workers); // each finishes its batch: every batch sent was acknowledged in the end

    expect(refusedDuringOutage).toBeGreaterThan(0);
    // Requests in flight when the broker went down may complete; afterwards nothing is acknowledged.
    expect(ackedDuringOutage).toBeLessThanOrEqual(WORKERS * BATCH);
    expect([...statuses.keys()].filter((status) => status >= 500 && status !== 503)).toEqual([]);

    const onTopic = await readAllEventIds(broker.brokers);
    const distinct = new Set(onTopic);
    const missing = [...acknowledged].filter((id) => !distinct.has(id));
    const unacknowledged = [...distinct].filter((id) => !acknowledged.has(id));
    expect(missing).toEqual([]);
    expect(unacknowledged).toEqual([]);
    expect(distinct.size).toBe(acknowledged.size);
    console.info(
      `broker down ${OUTAGE_MS / 1000} s: ${acknowledged.size} events acknowledged, ${distinct.size} distinct on the topic ` +
        `(${onTopic.length} records; retried sends may repeat a record, consumers dedupe by event_id); ` +
        `replies ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
  });
});

/** Every event id on the usage topic, read from the start up to the current end of each partition. */
async function readAllEventIds(brokers: string): Promise<string[]> {
  const kafka = new Kafka({ clientId: "fault-reader", brokers: [brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(TOPICS.usage);
  await admin.disconnect();
  const remaining = new Map(ends.filter((p) => Number(p.high) > 0).map((p) => [p.partition, Number(p.high)]));

  const ids: string[] = [];
  const consumer = kafka.consumer({ groupId: runId("fault-reader") });
  await consumer.connect();
  await consumer.subscribe({ topic: TOPICS.usage, fromBeginning: true });
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  if (remaining.size === 0) done();
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (message.value) ids.push(decodeUsageEvent(message.value).event_id);
      if (Number(message.offset) + 1 >= (remaining.get(partition) ?? 0)) remaining.delete(partition);
      if (remaining.size === 0) done();
    },
  });
  await finished;
  await consumer.disconnect();
  return ids;
}
