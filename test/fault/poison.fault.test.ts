import { createRedisLedger } from "@tollgate/budgets";
import {
  CONSUMER_GROUPS,
  createKafka,
  createKafkaPublisher,
  type DeadLetter,
  decodeUsageRecord,
  startConsumeLoop,
  TOPICS,
} from "@tollgate/bus";
import { connectRedis, createCounterStore, createKeyBuilder, type RedisClient } from "@tollgate/counters";
import { decodeUsageEvent, sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import { insertUsageEvents, type SqlStore, storedEventIds } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAggregatorHandler } from "../../services/aggregator/src/service";
import { aggregatorOver } from "../support/aggregator";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { type RunningProcess, startService } from "../support/processes";
import { readDeadLetters, waitCommittedToEnd } from "../support/topics";

const USERS = 20;
const CHUNKS = 3;
const PER_CHUNK = 1_000;
const logger = createLogger("poison-test", "silent");

/**
 * The stream: three chunks, published one after the other. The middle one
 * carries, among its valid events and for a user who has events before and
 * after, `sinkPoison` — input_tokens −1, which ClickHouse really refuses
 * (Code 72, UInt64) — and `aggregatorPoison`, whose counter update the test
 * makes Redis really refuse (an ERR reply to the script's argument).
 */
function stream(org: string, now: number) {
  const sinkPoison = `${org}-sink-poison`;
  const aggregatorPoison = `${org}-aggregator-poison`;
  const chunks: UsageEvent[][] = [];
  let n = 0;
  for (let c = 0; c < CHUNKS; c++) {
    const chunk: UsageEvent[] = [];
    for (let i = 0; i < PER_CHUNK; i++, n++) {
      chunk.push(
        sampleUsageEvent({
          event_id: `${org}-${n}`,
          timestamp_ms: now,
          received_at_ms: now,
          org_id: org,
          user_id: `user-${n % USERS}`,
          input_tokens: 100 + (n % 7),
          output_tokens: 10,
          total_tokens: 110 + (n % 7),
          cost_micro_usd: 1_000 + n,
        }),
      );
    }
    if (c === 1) {
      const base = { timestamp_ms: now, received_at_ms: now, org_id: org, user_id: "user-7" };
      chunk.splice(400, 0, sampleUsageEvent({ ...base, event_id: sinkPoison, input_tokens: -1, total_tokens: 9 }));
      chunk.splice(700, 0, sampleUsageEvent({ ...base, event_id: aggregatorPoison, total_tokens: 50 }));
    }
    chunks.push(chunk);
  }
  return { chunks, all: chunks.flat(), sinkPoison, aggregatorPoison };
}

async function publishAll(brokers: string, chunks: UsageEvent[][]): Promise<void> {
  const publisher = await createKafkaPublisher(
    createKafka({ clientId: "poison-producer", brokers: [brokers], logger }),
  );
  for (const chunk of chunks) await publisher.publish(chunk);
  await publisher.close();
}

/** Per event id, how many rows usage_events holds (no FINAL: duplicates would show). */
async function rowsPerEvent(store: SqlStore): Promise<Map<string, number>> {
  const rows = await store.query<{ event_id: string; n: number }>(
    "SELECT event_id, count() AS n FROM usage_events GROUP BY event_id",
  );
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

describe("poison records in distributed mode", () => {
  let broker: PrivateBroker;
  let store: SqlStore;
  let sinks: RunningProcess[] = [];
  let redis: RedisClient;

  beforeAll(async () => {
    broker = await startPrivateBroker(3);
    store = await freshClickHouseDatabase();
    // The Redis Cluster, as the distributed stack runs on (issue 19).
    redis = connectRedis(engineEnv().redisClusterUrl);
  });
  afterAll(async () => {
    await Promise.all(sinks.map((s) => s.stop()));
    await broker?.stop();
    redis?.disconnect();
    if (store) await dropDatabase(store);
  });

  it("dead-letters the record each store refuses; the rest of its batch and partition are applied exactly once", async () => {
    const org = runId("poison");
    const now = Date.now();
    const { chunks, all, sinkPoison, aggregatorPoison } = stream(org, now);

    // Two sinks share the partitions: the refused record is isolated by whichever owns its partition.
    const sinkEnv = {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      SINK_LINGER_MS: "100",
      LOG_LEVEL: "info",
    };
    sinks = (await Promise.all([startService("sink", sinkEnv), startService("sink", sinkEnv)])).map((s) => s.proc);

    // The aggregator's own handler and loop, in-process, over the real Redis.
    // The injected fault is Redis's own refusal: for `aggregatorPoison` the
    // counters' update becomes a script call whose argument Redis rejects.
    const prefix = runId("tgpoison");
    const keys = createKeyBuilder(prefix);
    const ledger = createRedisLedger(redis, keys);
    const counters = createCounterStore(ledger, keys);
    // Budgets are not under test here; the running totals are what the aggregator writes to Redis.
    const { engine } = aggregatorOver(ledger, { keys, logger });
    const poisoned = {
      ...engine,
      // A call carrying the poison is refused by Redis itself, as a whole (bisecting pins it down).
      count: (items: Parameters<typeof engine.count>[0]) =>
        items.some((item) => item.event.event_id === aggregatorPoison)
          ? redis
              .eval("return redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])", 1, `${prefix}:poison`, "1e400")
              .then(() => [true])
          : engine.count(items),
    };
    const kafka = createKafka({ clientId: "poison-test", brokers: [broker.brokers], logger });
    const letters = await createKafkaPublisher(kafka);
    const aggregator = await startConsumeLoop({
      kafka,
      groupId: CONSUMER_GROUPS.aggregator,
      topic: TOPICS.usage,
      stage: "aggregator",
      decode: decodeUsageRecord,
      handle: createAggregatorHandler(poisoned),
      deadLetter: (batch) => letters.deadLetter(batch),
      logger,
    });

    await publishAll(broker.brokers, chunks);
    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.sink);
    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.aggregator);
    await aggregator.stop();
    await letters.close();

    // ClickHouse: every event but the refused one, each exactly once, rollups included.
    const rows = await rowsPerEvent(store);
    const loaded = all.filter((e) => e.event_id !== sinkPoison);
    expect(rows.size).toBe(loaded.length);
    expect([...rows.values()].every((n) => n === 1)).toBe(true);
    expect(rows.has(sinkPoison)).toBe(false);
    expect(rows.has(aggregatorPoison)).toBe(true);
    const [hourly] = await store.query<{ tokens: number; requests: number }>(
      "SELECT sum(total_tokens) AS tokens, sum(requests) AS requests FROM usage_hourly",
    );
    expect(Number(hourly?.tokens)).toBe(loaded.reduce((sum, e) => sum + e.total_tokens, 0));
    expect(Number(hourly?.requests)).toBe(loaded.length);

    // Redis: every event but the refused one, each once — user-7's events after the poison included.
    const counted = all.filter((e) => e.event_id !== aggregatorPoison);
    for (let u = 0; u < USERS; u++) {
      const user = `user-${u}`;
      const mine = counted.filter((e) => e.user_id === user);
      const totals = await counters.totals({ org, user }, now);
      expect(totals.user?.day, user).toMatchObject({
        tokens: mine.reduce((sum, e) => sum + e.total_tokens, 0),
        requests: mine.length,
      });
    }

    // The dead-letter topic: exactly the two refused records, each with its store's error.
    const dead = await readDeadLetters(kafka);
    expect(dead).toHaveLength(2);
    const bySink = dead.find((l) => l.stage === "sink") as DeadLetter;
    expect(bySink.reason).toMatch(/Code: 72/);
    expect(JSON.parse(bySink.payload).event_id).toBe(sinkPoison);
    const byAggregator = dead.find((l) => l.stage === "aggregator") as DeadLetter;
    expect(byAggregator.reason).toMatch(/ERR value is not an integer/);
    expect(decodeUsageEvent(Buffer.from(byAggregator.payload, "base64")).event_id).toBe(aggregatorPoison);
  }, 180_000);
});

/**
 * The pipelined loop with a handler that does not isolate offenders itself
 * (a plain insert): the refused batch's range is fetched again and bisected
 * without pipelining, then pipelining resumes. Catches a pipelined consumer
 * that would retry the poison forever or commit past it.
 */
describe("a pipelined consumer whose handler does not isolate", () => {
  let broker: PrivateBroker;
  let store: SqlStore;
  beforeAll(async () => {
    broker = await startPrivateBroker(3);
    store = await freshClickHouseDatabase();
  });
  afterAll(async () => {
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  it("dead-letters the refused record and loads every other", async () => {
    const org = runId("pipe");
    const { chunks, all, sinkPoison } = stream(org, Date.now());
    await publishAll(broker.brokers, chunks);
    const kafka = createKafka({ clientId: "poison-pipelined", brokers: [broker.brokers], logger });
    const letters = await createKafkaPublisher(kafka);
    const loop = await startConsumeLoop({
      kafka,
      groupId: "poison-pipelined",
      topic: TOPICS.usage,
      stage: "sink",
      decode: decodeUsageRecord,
      handle: async (events) => {
        const stored = await storedEventIds(
          store,
          events.map((e) => e.event_id),
        );
        await insertUsageEvents(
          store,
          events.filter((e) => !stored.has(e.event_id)),
        );
      },
      deadLetter: (batch) => letters.deadLetter(batch),
      logger,
      tuning: { partitionsConcurrently: 3, maxBytesPerPartition: 16_384, pipelineMaxPendingItems: 400 },
    });
    await waitCommittedToEnd(kafka, "poison-pipelined");
    await loop.stop();
    await letters.close();

    // Distinct ids: a replayed range may race a voided batch of the plain insert (the sink's own handler does not).
    const rows = await rowsPerEvent(store);
    expect(new Set(rows.keys())).toEqual(new Set(all.filter((e) => e.event_id !== sinkPoison).map((e) => e.event_id)));
    const dead = await readDeadLetters(kafka);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.reason).toMatch(/Code: 72/);
    expect(decodeUsageEvent(Buffer.from(dead[0]?.payload ?? "", "base64")).event_id).toBe(sinkPoison);
  }, 120_000);
});
