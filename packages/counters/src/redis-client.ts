import calculateSlot from "cluster-key-slot";
import { type ChainableCommander, Cluster, Redis, type RedisOptions } from "ioredis";
import { parseRedisUrl } from "./redis-url";

/**
 * A connection to Redis: one server or a Redis Cluster. Every key of a Lua
 * script is one tenant's (the `{tenant}` hash tag of the key builder), so the
 * scripts run unchanged on either. What differs is handled here: pipelines
 * (one node each on a cluster, see pipelineByKey) and whole-keyspace work
 * (every master, see mastersOf).
 */
export type RedisClient = Redis | Cluster;

/**
 * The one way a service opens Redis (REDIS_URL: see parseRedisUrl).
 * `options` are the per-connection options (timeouts, offline queue, retries);
 * on a cluster they apply to each node's connection, and the ones ioredis
 * takes per cluster (offline queue, lazy connect, retry strategy) to the
 * cluster. Reads go to masters: a replica may lag behind a reservation.
 */
export function connectRedis(url: string, options: RedisOptions = {}): RedisClient {
  const target = parseRedisUrl(url);
  if (target.mode === "single") return new Redis(url, options);
  const { enableOfflineQueue, lazyConnect, retryStrategy, readOnly: _readOnly, ...perNode } = options;
  return new Cluster(target.nodes, {
    scaleReads: "master",
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(lazyConnect !== undefined && { lazyConnect }),
    ...(retryStrategy && { clusterRetryStrategy: (times: number) => retryStrategy(times) }),
    redisOptions: {
      ...perNode,
      ...(target.username !== undefined && { username: target.username }),
      ...(target.password !== undefined && { password: target.password }),
      ...(target.tls && { tls: {} }),
    },
  });
}

// ioredis's own flag rather than instanceof: it holds across two copies of the library.
export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

/**
 * The servers that hold keys: the server itself, or every master of a
 * cluster. For the rare whole-keyspace work (SCAN in a rebuild, FLUSHALL in
 * tests): a SCAN or FLUSHALL sent to a cluster reaches one node only.
 */
export async function mastersOf(redis: RedisClient): Promise<Redis[]> {
  if (!isCluster(redis)) return [redis];
  if (redis.status === "wait") await redis.connect();
  else if (redis.status !== "ready") {
    await new Promise<void>((resolve, reject) => {
      redis.once("ready", resolve);
      redis.once("end", () => reject(new Error("Redis Cluster connection ended before it was ready")));
    });
  }
  return redis.nodes("master");
}

/**
 * Exactly one command per key, batched, replies in the order of `keys` (like
 * `pipeline().exec()`). A single server gets one pipeline; on a cluster a
 * pipeline may only hold keys of one node, so keys are grouped by slot (a
 * slot always has one node) and the groups run concurrently.
 */
export async function pipelineByKey(
  redis: RedisClient,
  keys: readonly string[],
  queue: (pipeline: ChainableCommander, key: string) => void,
): Promise<Array<[Error | null, unknown]>> {
  if (keys.length === 0) return [];
  if (!isCluster(redis)) {
    const pipeline = redis.pipeline();
    for (const key of keys) queue(pipeline, key);
    return ((await pipeline.exec()) ?? []) as Array<[Error | null, unknown]>;
  }
  const bySlot = new Map<number, number[]>();
  keys.forEach((key, index) => {
    const slot = calculateSlot(key);
    const group = bySlot.get(slot);
    if (group) group.push(index);
    else bySlot.set(slot, [index]);
  });
  const replies = new Array<[Error | null, unknown]>(keys.length);
  await Promise.all(
    [...bySlot.values()].map(async (indexes) => {
      const pipeline = redis.pipeline();
      for (const index of indexes) queue(pipeline, keys[index] as string);
      const results = (await pipeline.exec()) ?? [];
      indexes.forEach((index, n) => {
        replies[index] = (results[n] ?? [new Error("no reply in the pipeline"), null]) as [Error | null, unknown];
      });
    }),
  );
  return replies;
}
