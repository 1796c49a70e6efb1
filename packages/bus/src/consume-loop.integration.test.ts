import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivateBroker, startPrivateBroker } from "../../../test/support/mock-broker";
import { type ConsumeLoop, decodeUsageRecord, startConsumeLoop } from "./consume-loop";
import { createKafka, createKafkaPublisher } from "./kafka";
import { TOPICS } from "./topics";

const EVENTS = 3_000;

/**
 * The pipelined consume loop (the sink's): fetching goes on while batches
 * are being made durable; an offset is committed only once its batch is,
 * and a batch that fails rewinds its partition, so nothing is committed
 * past it and every event is handled in the end.
 */
describe("pipelined consume loop", () => {
  let broker: PrivateBroker;
  const logger = createLogger("consume-loop-test", "silent");
  beforeAll(async () => {
    broker = await startPrivateBroker(3);
    const publisher = await createKafkaPublisher(createKafka({ clientId: "t", brokers: [broker.brokers], logger }));
    const events = Array.from({ length: EVENTS }, (_, i) =>
      sampleUsageEvent({ event_id: `e${i}`, user_id: `u${i % 31}` }),
    );
    for (let i = 0; i < EVENTS; i += 100) await publisher.publish(events.slice(i, i + 100));
    await publisher.close();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("commits only what became durable, rewinds a failed batch, and ends with every event handled", async () => {
    const kafka = createKafka({ clientId: "t", brokers: [broker.brokers], logger });
    const durable = new Set<string>();
    let handed = 0;
    let failuresLeft = 2;
    let maxPending = 0;
    let pending = 0;
    // Settles in call order (the contract): each call waits for the one before it.
    let previous: Promise<void> = Promise.resolve();
    const handle = (items: UsageEvent[]) => {
      handed++;
      pending += items.length;
      maxPending = Math.max(maxPending, pending);
      const fail = handed % 3 === 0 && failuresLeft > 0;
      if (fail) failuresLeft--;
      const mine = previous.then(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        pending -= items.length;
        if (fail) throw new Error("simulated insert failure");
        for (const item of items) durable.add(item.event_id);
      });
      previous = mine.catch(() => undefined);
      return mine;
    };
    let loop: ConsumeLoop | undefined;
    const allCommitted = new Promise<void>((resolve) => {
      void startConsumeLoop({
        kafka,
        groupId: "pipelined-test",
        topic: TOPICS.usage,
        stage: "sink",
        decode: decodeUsageRecord,
        handle,
        deadLetter: async () => undefined,
        logger,
        tuning: { partitionsConcurrently: 3, pipelineMaxPendingItems: 500 },
      }).then((started) => {
        loop = started;
        const poll = setInterval(async () => {
          const admin = kafka.admin();
          await admin.connect();
          const offsets = await admin.fetchOffsets({ groupId: "pipelined-test", topics: [TOPICS.usage] });
          await admin.disconnect();
          const committed = offsets[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) ?? 0;
          if (committed >= EVENTS) {
            clearInterval(poll);
            resolve();
          }
        }, 200);
      });
    });
    await allCommitted;
    await loop?.stop();

    // Everything committed is durable: the two failed batches were fetched again.
    expect(failuresLeft).toBe(0);
    expect(durable.size).toBe(EVENTS);
    // Bounded: at most one batch past the limit is pending at once.
    expect(maxPending).toBeLessThan(500 + EVENTS / 3);
  });
});

/**
 * kafkajs restarts a consumer only after a retriable error; after any other
 * it stays stopped and the process would consume nothing for good. The
 * librdkafka mock coordinator answers a follower's SyncGroup that arrives
 * after the leader's with INVALID_REQUEST, which is exactly such an error:
 * here the broker is told to answer the first SyncGroup that way.
 */
describe("consume loop after a crash kafkajs does not restart from", () => {
  let broker: PrivateBroker;
  const logger = createLogger("consume-loop-test", "silent");
  beforeAll(async () => {
    broker = await startPrivateBroker(2);
    const publisher = await createKafkaPublisher(createKafka({ clientId: "t", brokers: [broker.brokers], logger }));
    await publisher.publish(Array.from({ length: 50 }, (_, i) => sampleUsageEvent({ event_id: `r${i}` })));
    await publisher.close();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it("rejoins its group and handles every event", async () => {
    const SYNC_GROUP_API = 14;
    const INVALID_REQUEST = 42;
    broker.command(`error ${SYNC_GROUP_API} ${INVALID_REQUEST} 1`);
    const handled = new Set<string>();
    // What the loop logs is how we see the crash: it happens inside startConsumeLoop's first run().
    const crashes: boolean[] = [];
    const seen = pino(
      { level: "error" },
      {
        write(line: string) {
          const entry = JSON.parse(line) as { msg?: string; restart?: boolean };
          if (entry.msg === "consumer crashed") crashes.push(entry.restart === true);
        },
      },
    );
    let allHandled: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      allHandled = resolve;
    });
    const kafka = createKafka({ clientId: "t", brokers: [broker.brokers], logger });
    const loop = await startConsumeLoop({
      kafka,
      groupId: "rejoin-test",
      topic: TOPICS.usage,
      stage: "aggregator",
      decode: decodeUsageRecord,
      handle: async (items: UsageEvent[]) => {
        for (const item of items) handled.add(item.event_id);
        if (handled.size === 50) allHandled();
      },
      deadLetter: async () => undefined,
      logger: seen,
    });
    await done;
    await loop.ready();
    await loop.stop();
    // It did crash, and kafkajs would not have restarted it.
    expect(crashes).toEqual([false]);
    expect(handled.size).toBe(50);
  });
});
