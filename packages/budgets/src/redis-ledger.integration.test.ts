import { connectRedis, createKeyBuilder, mastersOf } from "@tollgate/counters";
import { afterAll, describe, expect, it } from "vitest";
import { countingContract } from "./counting-contract";
import { forecastContract } from "./forecast-contract";
import { ledgerContract } from "./ledger-contract";
import { createRedisLedger } from "./redis-ledger";
import { engineFor, usage } from "./testing";

/** The bring-up (infra/local/up.sh) starts both; a missing one fails the run instead of skipping it. */
const urlOf = (name: "REDIS_URL" | "REDIS_CLUSTER_URL") => {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set: run the tests through \`pnpm test\` or source .tollgate/infra/env`);
  return url;
};

// On the cluster every script of the contracts must keep its KEYS in one slot, or Redis answers CROSSSLOT.
describe.each([
  ["one Redis server", "REDIS_URL"],
  ["a Redis Cluster of three masters", "REDIS_CLUSTER_URL"],
] as const)("Redis ledger (distributed mode), on %s", (_target, variable) => {
  const redis = connectRedis(urlOf(variable));
  afterAll(async () => {
    await redis.quit();
  });
  let run = 0;
  const fresh = () => {
    // A fresh key prefix per test: no flush, no interference with other suites.
    const prefix = `ledger-${process.pid}-${Date.now()}-${run++}`;
    const keys = createKeyBuilder(prefix);
    return { ledger: createRedisLedger(redis, keys), prefix };
  };
  ledgerContract(fresh);
  forecastContract(fresh);
  countingContract(fresh);

  it("keeps one marker per counted event, for the dedupe window only", async () => {
    const { ledger, prefix } = fresh();
    const keys = createKeyBuilder(prefix);
    const { engine, clock } = engineFor(ledger, [], { prefix });
    await engine.count([{ event: usage({ event_id: "m1", org_id: "acme", timestamp_ms: clock.now }) }]);
    const ttl = await redis.ttl(keys.seenEvent(keys.tenant("acme"), "m1"));
    expect(ttl).toBeGreaterThan(3_500);
    expect(ttl).toBeLessThanOrEqual(3_600);
    // KEYS asks one node: on a cluster, every master.
    const found = await Promise.all((await mastersOf(redis)).map((node) => node.keys(`${prefix}:*:seen:*`)));
    expect(found.flat()).toHaveLength(1);
  });
});
