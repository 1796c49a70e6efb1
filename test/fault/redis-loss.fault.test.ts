import type { SqlStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { call } from "../support/http";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, freePort, type RunningProcess, startBinary, startService } from "../support/processes";

const USERS = 25;
const PER_USER = 20;

/**
 * Redis loses its data mid-run (FLUSHALL, as a restart without persistence
 * would): afterwards every running total and budget counter equals what it
 * was before the loss plus what arrived since, exactly — rebuilt from
 * ClickHouse and a replay of the topic by the aggregator — and enforcement
 * decides by its failure policy, not on the empty counters, until then.
 */
describe("Redis losing its data", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const org = runId("org_");
  let redisServer: RunningProcess;
  let redis: Redis;
  let broker: PrivateBroker;
  let store: SqlStore;
  const services: RunningProcess[] = [];
  const byName = new Map<string, RunningProcess>();
  const urls = { ingest: "", enforcement: "" };

  beforeAll(async () => {
    const redisPort = await freePort();
    redisServer = startBinary(
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      "redis-server",
    );
    await redisServer.waitForOutput(/Ready to accept connections/, 10_000);
    redis = new Redis(redisPort, "127.0.0.1");
    broker = await startPrivateBroker(3);
    store = await freshClickHouseDatabase();
    const env = {
      KAFKA_BROKERS: broker.brokers,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      LOG_LEVEL: "info",
    };
    const start = async (name: string) => {
      const { proc, url } = await startService(name, env);
      services.push(proc);
      byName.set(name, proc);
      return url;
    };
    [urls.ingest, urls.enforcement] = await Promise.all([start("ingest"), start("enforcement")]);
    await Promise.all([start("aggregator"), start("sink")]);
    const budget = await call("PUT", `${urls.enforcement}/v1/budgets/loss-users`, {
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
    redis?.disconnect();
    await redisServer?.stop("SIGKILL");
    if (store) await dropDatabase(store);
  });

  const send = async (wave: string) => {
    const events = [];
    for (let u = 0; u < USERS; u++) {
      for (let i = 0; i < PER_USER; i++) {
        events.push({
          event_id: `${wave}-${u}-${i}`,
          org_id: org,
          project_id: "p",
          user_id: `user_${u}`,
          agent_id: "a",
          model: "gpt-4o",
          usage: { input_tokens: 10 + u, output_tokens: 1 },
        });
      }
    }
    for (let i = 0; i < events.length; i += 100) {
      const reply = await call("POST", `${urls.ingest}/v1/events`, {
        key: adminKey,
        json: { events: events.slice(i, i + 100) },
      });
      expect(reply.status).toBe(202);
    }
  };
  /** Tokens each user should have after `waves` waves. */
  const expectedTokens = (u: number, waves: number) => waves * PER_USER * (11 + u);
  const standing = async (u: number) => {
    const reply = await call("POST", `${urls.enforcement}/v1/check`, {
      key: adminKey,
      json: { org_id: org, user_id: `user_${u}` },
    });
    const usage = await call("GET", `${urls.enforcement}/v1/usage?org_id=${org}&user_id=user_${u}`, { key: adminKey });
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
    // The budget reaches the aggregator's cache within 500 ms; wait for one counted event before the measured waves.
    await eventually(async () => {
      await call("POST", `${urls.ingest}/v1/events`, {
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
      const reply = await call("POST", `${urls.enforcement}/v1/check`, {
        key: adminKey,
        json: { org_id: org, user_id: "probe" },
      });
      return (reply.body.budgets?.[0]?.used ?? 0) > 0 ? true : undefined;
    }, "the budget to count");

    await send("w1");
    await eventually(() => allAt(1), "the first wave in the counters", 60_000);

    expect(await redis.flushall()).toBe("OK");
    const right = await standing(0);
    // Straight after the loss: either still counting from nothing (not yet noticed) or deciding by policy.
    expect([0, undefined, expectedTokens(0, 1)]).toContain(right.budgetUsed);

    await send("w2");
    await eventually(() => allAt(2), "both waves in the rebuilt counters", 90_000);
    const after = await standing(3);
    expect(after.reason).not.toMatch(/rebuilt/);
    // The aggregator noticed twice: at its first start (empty Redis) and after the flush.
    const noticed =
      byName
        .get("aggregator")
        ?.output()
        .match(/counters are incomplete/g) ?? [];
    expect(noticed.length).toBeGreaterThanOrEqual(2);
    const state = await redis.hgetall("tg:v1:counters-state");
    expect(Number(state.partitions)).toBe(3);
    expect(Object.keys(state).filter((k) => k.startsWith("p"))).toHaveLength(4); // partitions + p0..p2
  }, 240_000);
});
