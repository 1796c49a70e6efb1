import { CONSUMER_GROUPS, createKafka, createKafkaPublisher, TOPICS } from "@tollgate/bus";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, type RunningProcess, startTs, waitReady } from "../support/processes";

const PROJECTS = 7;
const CHUNKS = 12;
const PER_CHUNK = 2_000;
const DUPLICATE_EVERY = 5;

/**
 * Exactly-once loading: the sink is SIGKILLed three times while a known
 * stream (with duplicates) flows — between its inserts and its offset
 * commits, wherever the kill lands — and restarted. Afterwards the raw
 * table, the hourly and the daily rollups all hold exactly the expected
 * totals, without FINAL.
 */
describe("sink killed mid-stream", () => {
  let broker: PrivateBroker;
  let store: SqlStore;
  let sink: RunningProcess | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    broker = await startPrivateBroker(6);
    store = await freshClickHouseDatabase();
    env = {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      SINK_PORT: "0",
      SINK_HOST: "127.0.0.1",
      SINK_LINGER_MS: "100",
      LOG_LEVEL: "info",
    };
  });

  afterAll(async () => {
    await sink?.stop("SIGKILL");
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  async function startSink(): Promise<void> {
    sink = startTs("services/sink/src/index.ts", env, "sink");
    const match = await sink.waitForOutput(/"port":(\d+)/, 60_000);
    await waitReady(`http://127.0.0.1:${match[1]}`);
  }

  it("loads every event exactly once through three SIGKILLs, duplicates included", async () => {
    const logger = createLogger("fault-test", "silent");
    const publisher = await createKafkaPublisher(
      createKafka({ clientId: "sink-kill-producer", brokers: [broker.brokers], logger }),
    );
    const now = Date.now();
    const expected = new Map<string, { requests: number; tokens: number; cost: number }>();
    let sequence = 0;
    const chunk = (): UsageEvent[] => {
      const events: UsageEvent[] = [];
      for (let i = 0; i < PER_CHUNK; i++) {
        const n = sequence++;
        const event = sampleUsageEvent({
          event_id: `sink-kill-${n}`,
          timestamp_ms: now - (n % 3) * 3_600_000,
          received_at_ms: now,
          org_id: "acme",
          project_id: `project-${n % PROJECTS}`,
          user_id: `user-${n % 11}`,
          input_tokens: 100 + (n % 13),
          output_tokens: 10,
          total_tokens: 110 + (n % 13),
          cost_micro_usd: 500 + n,
        });
        const sum = expected.get(event.project_id) ?? { requests: 0, tokens: 0, cost: 0 };
        sum.requests++;
        sum.tokens += event.total_tokens;
        sum.cost += event.cost_micro_usd;
        expected.set(event.project_id, sum);
        events.push(event);
        if (n % DUPLICATE_EVERY === 0) events.push({ ...event });
      }
      return events;
    };

    await startSink();
    let kills = 0;
    for (let c = 0; c < CHUNKS; c++) {
      await publisher.publish(chunk());
      if (c % 3 === 2 && kills < 3) {
        expect(await sink?.stop("SIGKILL")).toBeNull();
        kills++;
        await startSink();
      }
    }
    await publisher.close();
    expect(kills).toBe(3);

    const kafka = createKafka({ clientId: "sink-kill-admin", brokers: [broker.brokers], logger });
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(TOPICS.usage);
    await eventually(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: CONSUMER_GROUPS.sink, topics: [TOPICS.usage] });
        // An empty partition has nothing to commit (its offset stays -1).
        const done = ends.every(
          (end) =>
            end.high === end.low ||
            committed?.partitions.find((p) => p.partition === end.partition)?.offset === end.offset,
        );
        return done ? true : undefined;
      },
      "the sink to commit the whole stream",
      90_000,
    );
    await admin.disconnect();

    for (const table of ["usage_events", "usage_hourly", "usage_daily"]) {
      const requests = table === "usage_events" ? "count()" : "sum(requests)";
      const rows = await store.query<{ project_id: string; requests: number; tokens: number; cost: number }>(
        `SELECT project_id, ${requests} AS requests, sum(total_tokens) AS tokens, sum(cost_micro_usd) AS cost
         FROM ${table} GROUP BY project_id ORDER BY project_id`,
      );
      const got = Object.fromEntries(
        rows.map((r) => [
          r.project_id,
          { requests: Number(r.requests), tokens: Number(r.tokens), cost: Number(r.cost) },
        ]),
      );
      expect(got, table).toEqual(Object.fromEntries([...expected].sort()));
    }
    expect(sequence).toBe(CHUNKS * PER_CHUNK);
  }, 240_000); // three restarts, each waiting out the killed member's session (10 s)
});
