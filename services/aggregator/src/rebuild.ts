import { type Budget, type BudgetEngine, oldestOpenWindow } from "@tollgate/budgets";
import { CONSUMER_GROUPS, type ConsumeLoop, TOPICS } from "@tollgate/bus";
import { type KeyBuilder, mastersOf, pipelineByKey, type RedisClient } from "@tollgate/counters";
import type { Logger } from "@tollgate/kit";
import { type SqlStore, usageEventsSince } from "@tollgate/sql";
import type { Kafka } from "kafkajs";

/**
 * Rebuilds the counters after Redis lost its data, before enforcement trusts
 * them again.
 *
 * Redis keeps a "counters state" hash with one field per partition of the
 * usage topic whose effects it holds. A flush or a restart without
 * persistence removes it with everything else, so its absence is the signal
 * (also on a fresh install). For the partitions it owns, the aggregator then:
 *   1. pauses consuming;
 *   2. applies every event ClickHouse holds from the start of the oldest open
 *      window (UTC month for the running totals, each budget's window; from
 *      the beginning for lifetime budgets);
 *   3. replays each partition from where the sink's group had committed
 *      (everything before it is in ClickHouse, since the sink commits only
 *      after ClickHouse has a batch) or its own position if lower, up to
 *      the end of the partition as it was when the loss was found;
 *   4. marks the partition complete once it got there.
 * Every step is idempotent: the ClickHouse pass marks each event it counts
 * (the dedupe window, see BudgetEngine.count), so the overlap between
 * ClickHouse and the replay that follows counts once; the replay records
 * the positions again. A crash mid-rebuild starts it again — exact as long
 * as it restarts within the dedupe window (the ClickHouse pass's markers
 * still set); a rebuild restarted later than that counts the events it had
 * already counted twice, until the next loss of Redis or a restart with
 * empty counters. Enforcement decides by its failure policy until every
 * partition is marked.
 */
export function startRebuildGuard(deps: {
  loop: ConsumeLoop;
  kafka: Kafka;
  redis: RedisClient;
  keys: KeyBuilder;
  store: SqlStore;
  engine: Pick<BudgetEngine, "count">;
  budgets: { all(): Budget[] };
  logger: Logger;
  intervalMs?: number;
}): { stop(): Promise<void> } {
  const log = deps.logger.child({ component: "rebuild-guard" });
  const stateKey = deps.keys.countersState();
  let rebuild: { generation: number; targets: Map<number, bigint> } | null = null;
  let running: Promise<void> | null = null;

  const tick = () => {
    running ??= check().finally(() => {
      running = null;
    });
    return running;
  };
  const check = async () => {
    try {
      if (rebuild) await finishWhenCaughtUp();
      else await startIfLost();
    } catch (err) {
      log.warn({ err }, "rebuild check failed; retrying");
      if (rebuild) deps.loop.resume();
      rebuild = null;
    }
  };

  const startIfLost = async () => {
    const assigned = deps.loop.assigned();
    if (assigned.length === 0) return;
    const state = await deps.redis.hgetall(stateKey);
    const lost = assigned.filter((p) => state[`p${p}`] === undefined);
    if (lost.length === 0) return;

    const generation = deps.loop.generation();
    log.warn({ partitions: lost }, "counters are incomplete (Redis lost its data, or first start): rebuilding");
    deps.loop.pause();
    const admin = deps.kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(TOPICS.usage);
      const [sink] = await admin.fetchOffsets({ groupId: CONSUMER_GROUPS.sink, topics: [TOPICS.usage] });
      const [own] = await admin.fetchOffsets({ groupId: CONSUMER_GROUPS.aggregator, topics: [TOPICS.usage] });
      await deps.redis.hset(stateKey, "partitions", String(ends.length));
      await forgetPositions(deps.redis, deps.keys, lost);

      const from = oldestOpenWindow(deps.budgets.all(), Date.now());
      let applied = 0;
      for await (const page of usageEventsSince(deps.store, from)) {
        const counted = await deps.engine.count(page.map((event) => ({ event })));
        applied += counted.filter(Boolean).length;
      }

      const targets = new Map<number, bigint>();
      for (const partition of lost) {
        const end = BigInt(ends.find((e) => e.partition === partition)?.high ?? "0");
        const low = BigInt(ends.find((e) => e.partition === partition)?.low ?? "0");
        const committed = (group: typeof sink) => {
          const offset = BigInt(group?.partitions.find((p) => p.partition === partition)?.offset ?? "-1");
          return offset < 0n ? low : offset;
        };
        // bigint offsets: Math.min does not take them.
        let from = committed(sink);
        if (committed(own) < from) from = committed(own);
        if (from < end) {
          deps.loop.seek(partition, from);
          targets.set(partition, end);
        } else {
          await deps.redis.hset(stateKey, `p${partition}`, String(Date.now()));
        }
      }
      log.info({ fromClickHouse: applied, replaying: Object.fromEntries(targets) }, "rebuild: ClickHouse applied");
      rebuild = { generation, targets };
    } finally {
      await admin.disconnect();
      deps.loop.resume();
    }
  };

  const finishWhenCaughtUp = async () => {
    const current = rebuild;
    if (!current) return;
    if (deps.loop.generation() !== current.generation) {
      rebuild = null; // reassigned meanwhile: plan again under the new assignment
      return;
    }
    for (const [partition, target] of current.targets) {
      if ((deps.loop.position(partition) ?? -1n) >= target) {
        await deps.redis.hset(stateKey, `p${partition}`, String(Date.now()));
        current.targets.delete(partition);
      }
    }
    if (current.targets.size === 0) {
      log.info("rebuild complete: counters trusted again");
      rebuild = null;
    }
  };

  const timer = setInterval(() => void tick(), deps.intervalMs ?? 500);
  void tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * Drops the positions counted for these partitions (every tenant's): the
 * loop went on consuming between the loss and its discovery, and positions
 * recorded then would make the replay skip the events before them that the
 * loss took. A rare, whole-keyspace scan, like the rebuild itself; on a
 * cluster every master is scanned (each holds its own slots' tenants).
 */
async function forgetPositions(redis: RedisClient, keys: KeyBuilder, partitions: number[]): Promise<void> {
  const fields = partitions.map((p) => `${TOPICS.usage}/${p}`);
  for (const node of await mastersOf(redis)) {
    const stream = node.scanStream({ match: keys.appliedPositionsPattern(), type: "hash", count: 1_000 });
    for await (const found of stream as AsyncIterable<string[]>) {
      const positions = found.filter((key) => keys.isAppliedPositions(key));
      // Through the client, not the node: a slot may move between the scan and the write.
      const replies = await pipelineByKey(redis, positions, (pipeline, key) => pipeline.hdel(key, ...fields));
      for (const [err] of replies) if (err) throw err;
    }
  }
}
