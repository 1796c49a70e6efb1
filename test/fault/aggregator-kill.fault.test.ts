import { BudgetStore, createBudgetEngine, createRedisLedger } from "@tollgate/budgets";
import { CONSUMER_GROUPS, createKafka, createKafkaPublisher } from "@tollgate/bus";
import { connectRedis, createCounterStore, createKeyBuilder, type RedisClient } from "@tollgate/counters";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget } from "../../packages/budgets/src/testing";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { type RunningProcess, startTs, waitReady } from "../support/processes";
import { waitCommittedToEnd } from "../support/topics";

const USERS = 20;
const CHUNKS = 12;
/** Each round kills both members, one after the other (three chunks); each is the first to die once. */
const ROUNDS = 2;
const PER_CHUNK = 1_000;
/** Every fifth event is sent twice (a producer retry): counted once or the test fails. */
const DUPLICATE_EVERY = 5;

/**
 * Exactly-once effect of two aggregators sharing the partitions: a known
 * stream (with duplicates) flows while, in each of two rounds, one of them is
 * SIGKILLed — between its Redis writes and its offset commits, wherever the
 * kill lands — and the other alone consumes the whole stream so far (its
 * own partitions at once, the dead one's after its session times out); then
 * the survivor is killed mid-batch too and both restart. Afterwards every
 * running total and every budget counter equals the expected sum exactly.
 */
describe("aggregator killed mid-stream", () => {
  const prefix = runId("kill");
  const org = runId("org_");
  let broker: PrivateBroker;
  let store: SqlStore;
  let redis: RedisClient;
  const aggregators: RunningProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    broker = await startPrivateBroker(6);
    store = await freshClickHouseDatabase();
    // The Redis Cluster, as the distributed stack runs on (issue 19).
    redis = connectRedis(engineEnv().redisClusterUrl);
    const budgets = new BudgetStore(store);
    await budgets.put(
      budget("kill-user-tokens", {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 1e12,
      }),
    );
    await budgets.put(
      budget("kill-project-cost", {
        scope: { type: "project", id: "kill-project" },
        metric: "cost_usd",
        window: { type: "calendar", unit: "month" },
        limit: 1e12,
      }),
    );
    env = {
      KAFKA_BROKERS: broker.brokers,
      REDIS_URL: engineEnv().redisClusterUrl,
      REDIS_KEY_PREFIX: prefix,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      AGGREGATOR_PORT: "0",
      AGGREGATOR_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    };
  });

  afterAll(async () => {
    await Promise.all(aggregators.map((a) => a.stop("SIGKILL")));
    await broker?.stop();
    await redis?.quit();
    if (store) await dropDatabase(store);
  });

  async function startAggregator(instance: number): Promise<void> {
    const proc = startTs("services/aggregator/src/index.ts", env, `aggregator#${instance}`);
    aggregators[instance] = proc;
    const match = await proc.waitForOutput(/"port":(\d+)/, 60_000);
    // Ready = joined the group: a rebalance with a member still starting can take a minute on two busy cores.
    await waitReady(`http://127.0.0.1:${match[1]}`, 120_000);
  }

  it("counts every event exactly once through four SIGKILLs of two aggregators, duplicates included", async () => {
    const logger = createLogger("fault-test", "silent");
    const publisher = await createKafkaPublisher(
      createKafka({ clientId: "kill-producer", brokers: [broker.brokers], logger }),
    );
    const now = Date.now();
    const expected = new Map<string, { tokens: number; cost: number; requests: number }>();
    let projectCost = 0;
    let sequence = 0;
    const chunk = (): UsageEvent[] => {
      const events: UsageEvent[] = [];
      for (let i = 0; i < PER_CHUNK; i++) {
        const n = sequence++;
        const user = `user_${n % USERS}`;
        const event = sampleUsageEvent({
          event_id: `${prefix}-${n}`,
          timestamp_ms: now,
          received_at_ms: now,
          org_id: org,
          project_id: "kill-project",
          user_id: user,
          input_tokens: 100 + (n % 7),
          output_tokens: 10 + (n % 3),
          total_tokens: 110 + (n % 7) + (n % 3),
          cost_micro_usd: 1_000 + n,
        });
        const sum = expected.get(user) ?? { tokens: 0, cost: 0, requests: 0 };
        sum.tokens += event.total_tokens;
        sum.cost += event.cost_micro_usd;
        sum.requests += 1;
        expected.set(user, sum);
        projectCost += event.cost_micro_usd;
        events.push(event);
        if (n % DUPLICATE_EVERY === 0) events.push({ ...event }); // same event_id again
      }
      return events;
    };

    const kafka = createKafka({ clientId: "kill-admin", brokers: [broker.brokers], logger });
    await Promise.all([startAggregator(0), startAggregator(1)]);
    let kills = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const [victim, survivor] = round % 2 === 0 ? [0, 1] : [1, 0];
      // Right after a chunk lands the aggregators are mid-batch: kill one there.
      await publisher.publish(chunk());
      expect(await aggregators[victim]?.stop("SIGKILL")).toBeNull();
      // The survivor alone takes in everything so far: its partitions, and the dead one's once its session expired.
      await publisher.publish(chunk());
      await waitCommittedToEnd(kafka, CONSUMER_GROUPS.aggregator);
      expect(aggregators[survivor]?.child.exitCode).toBeNull();
      await publisher.publish(chunk());
      expect(await aggregators[survivor]?.stop("SIGKILL")).toBeNull();
      kills += 2;
      // Both restart together, so the group forms anew in one rebalance instead of two.
      await Promise.all([startAggregator(0), startAggregator(1)]);
    }
    for (let c = 3 * ROUNDS; c < CHUNKS; c++) await publisher.publish(chunk());
    await publisher.close();
    expect(kills).toBe(2 * ROUNDS);

    // Wait until the group has committed everything, then read the counters.
    await waitCommittedToEnd(kafka, CONSUMER_GROUPS.aggregator);
    for (const proc of aggregators) expect(proc.child.exitCode).toBeNull();

    const keys = createKeyBuilder(prefix);
    const ledger = createRedisLedger(redis, keys);
    const counters = createCounterStore(ledger, keys);
    const budgets = new BudgetStore(store);
    await budgets.refresh();
    const reader = createBudgetEngine({
      budgets,
      ledger,
      keys,
      price: () => null,
      reservationTtlMs: 0,
      failurePolicy: "closed",
    });

    for (const [user, sum] of expected) {
      const totals = await counters.totals({ org, user }, now);
      expect(totals.user?.day, user).toMatchObject({
        tokens: sum.tokens,
        cost_micro_usd: sum.cost,
        requests: sum.requests,
      });
      const standing = await reader.standing({ org_id: org, user_id: user, project_id: "kill-project" });
      const byId = Object.fromEntries(standing.map((s) => [s.id, s.used]));
      expect(byId["kill-user-tokens"], user).toBe(sum.tokens);
    }
    const project = await reader.standing({ org_id: org, project_id: "kill-project" });
    expect(project.find((s) => s.id === "kill-project-cost")?.used).toBe(projectCost);
    expect(sequence).toBe(CHUNKS * PER_CHUNK);
  }, 300_000); // two rounds, each waiting out the killed members' sessions (10 s) twice
});
