import { createRedisLedger } from "@tollgate/budgets";
import { CONSUMER_GROUPS, createKafka, createKafkaPublisher } from "@tollgate/bus";
import { createCounterStore, createKeyBuilder } from "@tollgate/counters";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, type RunningProcess, startService } from "../support/processes";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { readDeadLetters, waitCommittedToEnd } from "../support/topics";

const OUTAGE_MS = 20_000;
/** Load: a batch every tick, before, during and after the outage. */
const TICK_MS = 100;
const PER_TICK = 50;
const USERS = 16;
// OUTAGE_TEST_LOG=info shows the test's own Kafka clients at work when it fails.
const logger = createLogger("outage-test", (process.env.OUTAGE_TEST_LOG as "info" | undefined) ?? "silent");

/**
 * A store outage is not poison: ClickHouse (for the sink) and Redis (for the
 * aggregator), each service a process of its own, vanish for 20 s under load
 * — connections reset, new ones refused — and come back. Afterwards every
 * event is in ClickHouse and in the counters exactly once, and nothing went
 * to the dead-letter topic. Catches an outage error classified as permanent
 * (events skipped into the dead-letter topic), a consumer that gives up —
 * the aggregator did, before issue 13: its retries sent no heartbeats, it
 * lost its group and crashed for good at the commit — and one that commits
 * past what it could not write.
 */
describe("store outage of 20 s under load", () => {
  let broker: PrivateBroker;
  let store: SqlStore;
  let clickhouse: TcpProxy;
  let redisProxy: TcpProxy;
  let sink: RunningProcess | undefined;
  let aggregatorProc: RunningProcess | undefined;
  let direct: Redis;

  beforeAll(async () => {
    broker = await startPrivateBroker(3);
    store = await freshClickHouseDatabase();
    const ch = new URL(engineEnv().clickhouseUrl);
    clickhouse = await startTcpProxy({ host: ch.hostname, port: Number(ch.port || 8123) });
    const rd = new URL(engineEnv().redisUrl);
    redisProxy = await startTcpProxy({ host: rd.hostname, port: Number(rd.port || 6379) });
    direct = new Redis(engineEnv().redisUrl);
  });
  afterAll(async () => {
    await sink?.stop();
    await aggregatorProc?.stop();
    await broker?.stop();
    direct?.disconnect();
    await clickhouse?.close();
    await redisProxy?.close();
    if (store) await dropDatabase(store);
  });

  it("loses nothing, skips nothing and dead-letters nothing", async () => {
    const org = runId("outage");
    const now = Date.now();
    let sinkUrl = "";
    ({ proc: sink, url: sinkUrl } = await startService("sink", {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: `http://127.0.0.1:${clickhouse.port}`,
      CLICKHOUSE_DATABASE: store.database,
      SINK_LINGER_MS: "50",
      LOG_LEVEL: "info",
    }));
    const prefix = runId("tgoutage");
    let aggregatorUrl = "";
    ({ proc: aggregatorProc, url: aggregatorUrl } = await startService("aggregator", {
      KAFKA_BROKERS: broker.brokers,
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      REDIS_KEY_PREFIX: prefix,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      LOG_LEVEL: "info",
    }));
    const kafka = createKafka({ clientId: "outage-test", brokers: [broker.brokers], logger });

    // The load: a steady stream from before the outage to after it.
    const publisher = await createKafkaPublisher(
      createKafka({ clientId: "outage-producer", brokers: [broker.brokers], logger }),
    );
    const sent: UsageEvent[] = [];
    let producing = true;
    const load = (async () => {
      for (let tick = 0; producing; tick++) {
        const batch = Array.from({ length: PER_TICK }, (_, i) => {
          const n = tick * PER_TICK + i;
          return sampleUsageEvent({
            event_id: `${org}-${n}`,
            timestamp_ms: now,
            received_at_ms: now,
            org_id: org,
            user_id: `user-${n % USERS}`,
            input_tokens: 100 + (n % 5),
            output_tokens: 10,
            total_tokens: 110 + (n % 5),
            cost_micro_usd: 500 + n,
          });
        });
        await publisher.publish(batch);
        sent.push(...batch);
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      }
    })();

    await eventually(async () => (sent.length >= 20 * PER_TICK ? true : undefined), "load before the outage");
    await Promise.all([clickhouse.cut(), redisProxy.cut()]);
    const outageEnds = Date.now() + OUTAGE_MS;
    // The outage bites: the sink sees ClickHouse gone, the aggregator Redis.
    for (const url of [sinkUrl, aggregatorUrl]) {
      await eventually(
        async () => ((await fetch(`${url}/readyz`)).status === 503 ? true : undefined),
        `${url} to notice`,
      );
    }
    const duringOutage = sent.length;
    // The outage lasts its 20 s whatever happens meanwhile: a scenario's length, not a wait for a condition.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageEnds - Date.now())));
    expect(sent.length).toBeGreaterThan(duringOutage); // load went on during the outage
    await Promise.all([clickhouse.restore(), redisProxy.restore()]);
    await eventually(async () => (sent.length >= duringOutage + 30 * PER_TICK ? true : undefined), "load after");
    producing = false;
    await load;
    await publisher.close();

    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.sink, 120_000);
    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.aggregator, 120_000);

    const rows = await store.query<{ event_id: string; n: number }>(
      "SELECT event_id, count() AS n FROM usage_events GROUP BY event_id",
    );
    expect(rows.length).toBe(sent.length);
    expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    const [hourly] = await store.query<{ requests: number }>("SELECT sum(requests) AS requests FROM usage_hourly");
    expect(Number(hourly?.requests)).toBe(sent.length);

    const keys = createKeyBuilder(prefix);
    const read = createCounterStore(createRedisLedger(direct, keys), keys);
    for (let u = 0; u < USERS; u++) {
      const user = `user-${u}`;
      const mine = sent.filter((e) => e.user_id === user);
      const totals = await read.totals({ org, user }, now);
      expect(totals.user?.day, user).toMatchObject({
        tokens: mine.reduce((sum, e) => sum + e.total_tokens, 0),
        requests: mine.length,
      });
    }
    expect(await readDeadLetters(kafka)).toEqual([]);
  }, 240_000);
});
