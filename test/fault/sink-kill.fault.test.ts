import { CONSUMER_GROUPS, createKafka, createKafkaPublisher } from "@tollgate/bus";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { type RunningProcess, startTs, waitReady } from "../support/processes";
import { waitCommittedToEnd } from "../support/topics";

const PROJECTS = 7;
const CHUNKS = 12;
/** Each round kills both members, one after the other (three chunks); each is the first to die once. */
const ROUNDS = 2;
const PER_CHUNK = 2_000;
const DUPLICATE_EVERY = 5;

/**
 * Exactly-once loading by two sinks sharing the partitions: in each of two
 * rounds, while a known stream (with duplicates) flows, one sink is SIGKILLed
 * — between its inserts and its offset commits, wherever the kill lands —
 * and the other alone loads the whole stream so far (the dead one's
 * partitions after its session times out); then the survivor is killed
 * mid-batch too and both restart. Afterwards the raw table, the hourly and
 * the daily rollups all hold exactly the expected totals, without FINAL.
 */
describe("sink killed mid-stream", () => {
  let broker: PrivateBroker;
  let store: SqlStore;
  const sinks: RunningProcess[] = [];
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
    await Promise.all(sinks.map((s) => s.stop("SIGKILL")));
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  async function startSink(instance: number): Promise<void> {
    const proc = startTs("services/sink/src/index.ts", env, `sink#${instance}`);
    sinks[instance] = proc;
    const match = await proc.waitForOutput(/"port":(\d+)/, 60_000);
    // Ready = joined the group: a rebalance with a member still starting can take a minute on two busy cores.
    await waitReady(`http://127.0.0.1:${match[1]}`, 120_000);
  }

  it("loads every event exactly once through four SIGKILLs of two sinks, duplicates included", async () => {
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

    const kafka = createKafka({ clientId: "sink-kill-admin", brokers: [broker.brokers], logger });
    await Promise.all([startSink(0), startSink(1)]);
    let kills = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const [victim, survivor] = round % 2 === 0 ? [0, 1] : [1, 0];
      // Right after a chunk lands the sinks are mid-batch: kill one there.
      await publisher.publish(chunk());
      expect(await sinks[victim]?.stop("SIGKILL")).toBeNull();
      // The survivor alone takes in everything so far: its partitions, and the dead one's once its session expired.
      await publisher.publish(chunk());
      await waitCommittedToEnd(kafka, CONSUMER_GROUPS.sink);
      expect(sinks[survivor]?.child.exitCode).toBeNull();
      await publisher.publish(chunk());
      expect(await sinks[survivor]?.stop("SIGKILL")).toBeNull();
      kills += 2;
      // Both restart together, so the group forms anew in one rebalance instead of two.
      await Promise.all([startSink(0), startSink(1)]);
    }
    for (let c = 3 * ROUNDS; c < CHUNKS; c++) await publisher.publish(chunk());
    await publisher.close();
    expect(kills).toBe(2 * ROUNDS);
    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.sink);
    for (const proc of sinks) expect(proc.child.exitCode).toBeNull();

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
  }, 300_000); // two rounds, each waiting out the killed members' sessions (10 s) twice
});
