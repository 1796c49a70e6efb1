import { connectRedis, createKeyBuilder } from "@tollgate/counters";
import { afterAll, describe, expect, it } from "vitest";
import { decisionLogContract } from "./decision-log-contract";
import { createRedisDecisionLog } from "./redis-decision-log";
import { createRedisLedger } from "./redis-ledger";

/** The bring-up (infra/local/up.sh) starts both; a missing one fails the run instead of skipping it. */
const urlOf = (name: "REDIS_URL" | "REDIS_CLUSTER_URL") => {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set: run the tests through \`pnpm test\` or source .tollgate/infra/env`);
  return url;
};

// On the cluster a tenant's stream and the registry live in different slots: each is written by its own command.
describe.each([
  ["one Redis server", "REDIS_URL"],
  ["a Redis Cluster of three masters", "REDIS_CLUSTER_URL"],
] as const)("Redis decision log (distributed mode), on %s", (_target, variable) => {
  const redis = connectRedis(urlOf(variable));
  afterAll(async () => {
    await redis.quit();
  });
  let run = 0;
  const fresh = (options: { perTenant: number }) => {
    // A fresh key prefix per test: no flush, no interference with other suites.
    const prefix = `decisions-${process.pid}-${Date.now()}-${run++}`;
    const keys = createKeyBuilder(prefix);
    return { log: createRedisDecisionLog(redis, keys, options), ledger: createRedisLedger(redis, keys), prefix };
  };
  decisionLogContract(fresh);

  it("gives the streams and the registry an expiry, so an idle tenant's records go", async () => {
    const { log, prefix } = fresh({ perTenant: 10 });
    const keys = createKeyBuilder(prefix);
    log.record({
      at: new Date().toISOString(),
      decision: "throttle",
      reason: "rate",
      budget_id: "r",
      org_id: "acme",
      team_id: null,
      project_id: null,
      user_id: "u",
      agent_id: null,
      session_id: null,
      feature: null,
      task_type: null,
      model: null,
      degraded_to: null,
    });
    await log.flush();
    for (const key of [keys.recentDecisions(keys.tenant("acme")), keys.recentDecisionTenants()]) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(86_000);
    }
  });
});

describe("Redis decision log with Redis unreachable", () => {
  it("records without throwing or waiting, and says so when read", async () => {
    // Nothing listens on port 1; no offline queue: each command fails at once, as enforcement's client is set up.
    const redis = connectRedis("redis://127.0.0.1:1", {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    const log = createRedisDecisionLog(redis, createKeyBuilder("down"));
    const started = performance.now();
    for (let i = 0; i < 5_000; i++) {
      log.record({
        at: new Date().toISOString(),
        decision: "deny",
        reason: "r",
        budget_id: null,
        org_id: "acme",
        team_id: null,
        project_id: null,
        user_id: null,
        agent_id: null,
        session_id: null,
        feature: null,
        task_type: null,
        model: null,
        degraded_to: null,
      });
    }
    expect(performance.now() - started).toBeLessThan(500);
    await log.flush();
    await expect(log.recent({ org: "acme", sinceMs: 0, limit: 1 })).rejects.toThrow();
    redis.disconnect();
  });
});
