import { randomBytes } from "node:crypto";
import calculateSlot from "cluster-key-slot";
import { afterAll, describe, expect, it } from "vitest";
import { createKeyBuilder } from "./keys";
import { connectRedis, isCluster, mastersOf, pipelineByKey } from "./redis-client";

/** The bring-up (infra/local/up.sh) starts both; a missing one fails the run instead of skipping it. */
const urlOf = (name: "REDIS_URL" | "REDIS_CLUSTER_URL") => {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set: run the tests through \`pnpm test\` or source .tollgate/infra/env`);
  return url;
};

describe.each([
  ["one Redis server", "REDIS_URL", 1],
  ["a Redis Cluster of three masters", "REDIS_CLUSTER_URL", 3],
] as const)("connectRedis on %s", (_target, variable, masters) => {
  const redis = connectRedis(urlOf(variable), { commandTimeout: 2_000 });
  afterAll(async () => {
    await redis.quit();
  });
  const keys = createKeyBuilder(`client-${randomBytes(4).toString("hex")}`);

  it("finds every master that holds keys", async () => {
    const nodes = await mastersOf(redis);
    expect(nodes).toHaveLength(masters);
    // The per-connection options reach each node's connection.
    for (const node of nodes) expect(node.options.commandTimeout).toBe(2_000);
  });

  it("runs one command per key for keys of many tenants, replies in order", async () => {
    const counters = Array.from({ length: 40 }, (_, i) => keys.counter(keys.tenant(`org-${i}`), "org", "x", "all"));
    await pipelineByKey(redis, counters, (pipeline, key) =>
      pipeline.hincrby(key, "n", Number(key.match(/org-(\d+)/)?.[1])),
    );
    const replies = await pipelineByKey(redis, counters, (pipeline, key) => pipeline.hget(key, "n"));
    expect(replies).toEqual(counters.map((_, i) => [null, String(i)]));
    expect(await pipelineByKey(redis, [], (pipeline, key) => pipeline.get(key))).toEqual([]);
    await pipelineByKey(redis, counters, (pipeline, key) => pipeline.del(key));
  });
});

describe("connectRedis on a Redis Cluster", () => {
  const redis = connectRedis(urlOf("REDIS_CLUSTER_URL"));
  afterAll(async () => {
    await redis.quit();
  });
  const keys = createKeyBuilder("tg");

  it("hashes keys to the slots the cluster itself computes (the slot rules tested in keys-slots.test.ts hold)", async () => {
    expect(isCluster(redis)).toBe(true);
    const tenant = keys.tenant("acme");
    for (const key of [
      keys.counter(tenant, "user", "u1", "d1"),
      keys.unsettled(tenant).charges,
      keys.countersState(),
    ]) {
      expect(await redis.call("CLUSTER", "KEYSLOT", key)).toBe(calculateSlot(key));
    }
  });
});
