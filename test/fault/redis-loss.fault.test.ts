import type { SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { call } from "../support/http";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, type RunningProcess, startService } from "../support/processes";
import { type PrivateRedis, startPrivateRedis, startPrivateRedisCluster } from "../support/redis-servers";

const USERS = 25;
const PER_USER = 20;
const PARTITIONS = 6;

/**
 * Redis loses its data mid-run (FLUSHALL, as a restart without persistence
 * would): afterwards every running total and budget counter equals what it
 * was before the loss plus what arrived since, exactly — rebuilt from
 * ClickHouse and a replay of the topic by the aggregator — and enforcement
 * decides by its failure policy, not on the empty counters, until then.
 * Two of each service: the two aggregators each rebuild the partitions they
 * own (disjoint halves of the topic), reports go through both ingest
 * instances and standings are read from both enforcement instances.
 * On one server and on a cluster of three masters (every master flushed;
 * the rebuild scans every master for the positions it must forget).
 */
describe.each([
  ["one Redis server", startPrivateRedis],
  ["a Redis Cluster", () => startPrivateRedisCluster(3)],
])("Redis losing its data (%s)", (_target, startRedis: () => Promise<PrivateRedis>) => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const org = runId("org_");
  // Users spread over five orgs (tenants): on the cluster their counters land on several masters.
  const orgOf = (u: number) => `${org}_${u % 5}`;
  let redis: PrivateRedis;
  let broker: PrivateBroker;
  let store: SqlStore;
  const services: RunningProcess[] = [];
  const aggregators: RunningProcess[] = [];
  const urls = { ingest: [] as string[], enforcement: [] as string[] };

  beforeAll(async () => {
    redis = await startRedis();
    broker = await startPrivateBroker(PARTITIONS);
    store = await freshClickHouseDatabase();
    const env = {
      KAFKA_BROKERS: broker.brokers,
      REDIS_URL: redis.url,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      LOG_LEVEL: "info",
    };
    const start = async (name: string) => {
      const { proc, url } = await startService(name, env);
      services.push(proc);
      if (name === "aggregator") aggregators.push(proc);
      return url;
    };
    const twice = (name: string) => Promise.all([start(name), start(name)]);
    [urls.ingest, urls.enforcement] = await Promise.all([twice("ingest"), twice("enforcement")]);
    await Promise.all([twice("aggregator"), twice("sink")]);
    const budget = await call("PUT", `${urls.enforcement[0]}/v1/budgets/loss-users`, {
      key: adminKey,
      json: {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "calendar", unit: "month" },
        limit: 1e12,
      },
    });
    expect(budget.status).toBe(201);
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await broker?.stop();
    await redis?.stop();
    if (store) await dropDatabase(store);
  });

  const send = async (wave: string) => {
    const events = [];
    for (let u = 0; u < USERS; u++) {
      for (let i = 0; i < PER_USER; i++) {
        events.push({
          event_id: `${wave}-${u}-${i}`,
          org_id: orgOf(u),
          project_id: "p",
          user_id: `user_${u}`,
          agent_id: "a",
          model: "gpt-4o",
          usage: { input_tokens: 10 + u, output_tokens: 1 },
        });
      }
    }
    for (let i = 0; i < events.length; i += 100) {
      const reply = await call("POST", `${urls.ingest[(i / 100) % 2]}/v1/events`, {
        key: adminKey,
        json: { events: events.slice(i, i + 100) },
      });
      expect(reply.status).toBe(202);
    }
  };
  /** Tokens each user should have after `waves` waves. */
  const expectedTokens = (u: number, waves: number) => waves * PER_USER * (11 + u);
  /** User `u`'s standing, read from enforcement instance `u % 2`. */
  const standing = async (u: number) => {
    const url = urls.enforcement[u % 2];
    const reply = await call("POST", `${url}/v1/check`, {
      key: adminKey,
      json: { org_id: orgOf(u), user_id: `user_${u}` },
    });
    const usage = await call("GET", `${url}/v1/usage?org_id=${orgOf(u)}&user_id=user_${u}`, { key: adminKey });
    return {
      reason: reply.body.reason as string,
      budgetUsed: reply.body.budgets?.find((b: { id: string }) => b.id === "loss-users")?.used as number | undefined,
      totalTokens: usage.body.totals?.user?.month?.tokens as number | undefined,
    };
  };
  const allAt = async (waves: number) => {
    for (let u = 0; u < USERS; u++) {
      const s = await standing(u);
      if (s.budgetUsed !== expectedTokens(u, waves) || s.totalTokens !== expectedTokens(u, waves)) return undefined;
    }
    return true;
  };

  it("rebuilds every counter exactly after a FLUSHALL, counting what arrived meanwhile", async () => {
    // The budget reaches the aggregators' caches within 500 ms; wait for one counted event before the measured waves.
    await eventually(async () => {
      await call("POST", `${urls.ingest[0]}/v1/events`, {
        key: adminKey,
        json: {
          org_id: org,
          project_id: "p",
          user_id: "probe",
          agent_id: "a",
          model: "gpt-4o",
          usage: { input_tokens: 1 },
        },
      });
      for (const url of urls.enforcement) {
        const reply = await call("POST", `${url}/v1/check`, { key: adminKey, json: { org_id: org, user_id: "probe" } });
        if (!((reply.body.budgets?.[0]?.used ?? 0) > 0)) return undefined;
      }
      return true;
    }, "the budget to count, as both enforcement instances read it");

    await send("w1");
    await eventually(() => allAt(1), "the first wave in the counters", 60_000);

    const before = aggregators.map((a) => a.output().length);
    await redis.loseData();
    const right = await standing(0);
    // Straight after the loss: either still counting from nothing (not yet noticed) or deciding by policy.
    expect([0, undefined, expectedTokens(0, 1)]).toContain(right.budgetUsed);

    await send("w2");
    await eventually(() => allAt(2), "both waves in the rebuilt counters", 90_000);
    const after = await standing(3);
    expect(after.reason).not.toMatch(/rebuilt/);
    // Each aggregator noticed the loss of the partitions it owns: the group split the topic between them.
    const rebuilt = aggregators.map((a, i) => {
      const lines = a
        .output()
        .slice(before[i])
        .split("\n")
        .filter((line) => line.includes("counters are incomplete"));
      expect(lines.length, `aggregator ${i} noticed the loss`).toBeGreaterThanOrEqual(1);
      return (JSON.parse(lines[0] as string) as { partitions: number[] }).partitions;
    });
    expect(rebuilt.every((partitions) => partitions.length > 0)).toBe(true);
    expect(rebuilt.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: PARTITIONS }, (_, p) => p));
    const state = await redis.client.hgetall("tg:v1:counters-state");
    expect(Number(state.partitions)).toBe(PARTITIONS);
    expect(Object.keys(state).filter((k) => k.startsWith("p"))).toHaveLength(PARTITIONS + 1); // partitions + p0..p5
  }, 240_000);
});
