import { isPermanentFailure } from "@tollgate/kit";
import type { Consumer } from "kafkajs";
import type { Logger } from "pino";
import { errorText } from "./isolate";

/**
 * The pipelined mode's bookkeeping: which handed-over batches are not yet
 * durable, committing each one's offset once it is (coalesced: one commit
 * request carries every partition that advanced meanwhile), and on a failed
 * batch rewinding its partition to the batch's first offset, so nothing is
 * committed past what was lost. Batches of that partition already handed
 * over after it are not committed either (their epoch is over); the rewind
 * fetches them again, and handlers make the repeat a no-op.
 *
 * Commits keep each partition's order: a batch's offset is committed only
 * after every earlier batch of its partition settled, however long its
 * handler took (a bisected batch finishes after later ones), so a commit
 * never passes a batch that may still fail. A batch refused with a plain
 * permanent error marks its range for isolation: the rewind fetches it
 * again and the loop bisects it without pipelining (see `isolating`).
 */
export function createPipeline(
  consumer: Consumer,
  topic: string,
  maxPendingItems: number,
  positions: Map<number, bigint>,
  log: Logger,
) {
  let pendingItems = 0;
  const inFlight = new Set<Promise<void>>();
  const epochs = new Map<number, number>();
  const failures = new Map<number, number>();
  const toCommit = new Map<number, bigint>();
  /** Per partition, the last batch handed over: the next one settles after it. */
  const tails = new Map<number, Promise<void>>();
  /** Per partition, the last offset of a range to bisect when it comes again. */
  const isolateThrough = new Map<number, bigint>();
  let committing: Promise<void> | null = null;

  const commitLoop = async () => {
    while (toCommit.size > 0) {
      const offsets = [...toCommit].map(([partition, next]) => ({ topic, partition, offset: next.toString() }));
      toCommit.clear();
      try {
        await consumer.commitOffsets(offsets);
        for (const o of offsets) positions.set(o.partition, BigInt(o.offset));
      } catch (err) {
        // A rebalance moved the partitions: the new owner replays from the last commit.
        log.warn({ err: errorText(err) }, "offset commit failed; the uncommitted batches will be replayed");
      }
    }
    committing = null;
  };

  const rewind = (partition: number, first: bigint, last: bigint, err: unknown) => {
    epochs.set(partition, (epochs.get(partition) ?? 0) + 1);
    toCommit.delete(partition);
    let backoffMs = 0;
    if (isPermanentFailure(err)) {
      // Poison, not an outage: no backoff, the range comes again to be bisected.
      const through = isolateThrough.get(partition);
      isolateThrough.set(partition, through !== undefined && through > last ? through : last);
      log.warn({ err: errorText(err), partition, offset: first.toString() }, "batch refused; isolating the offenders");
    } else {
      const attempt = (failures.get(partition) ?? 0) + 1;
      failures.set(partition, attempt);
      backoffMs = Math.min(5_000, 100 * 2 ** attempt);
      log.error({ err: errorText(err), partition, offset: first.toString(), backoffMs }, "batch failed; rewinding");
    }
    consumer.pause([{ topic, partitions: [partition] }]);
    consumer.seek({ topic, partition, offset: first.toString() });
    setTimeout(() => consumer.resume([{ topic, partitions: [partition] }]), backoffMs).unref();
  };

  return {
    track(partition: number, first: bigint, last: bigint, items: number, durable: Promise<void>) {
      const epoch = epochs.get(partition) ?? 0;
      pendingItems += items;
      // The outcome is taken at once (no unhandled rejection while waiting
      // for the batch before), and acted on only after that batch settled.
      const outcome = durable.then(
        () => null,
        (err: unknown) => err ?? new Error("batch failed"),
      );
      const before = tails.get(partition) ?? Promise.resolve();
      const settled: Promise<void> = before
        .then(() => outcome)
        .then((err) => {
          if ((epochs.get(partition) ?? 0) !== epoch) return; // rewound meanwhile: this batch comes again
          if (err !== null) {
            rewind(partition, first, last, err);
            return;
          }
          failures.delete(partition);
          toCommit.set(partition, last + 1n);
          committing ??= commitLoop();
        });
      tails.set(partition, settled);
      inFlight.add(settled);
      void settled.finally(() => {
        pendingItems -= items;
        inFlight.delete(settled);
        if (tails.get(partition) === settled) tails.delete(partition);
      });
    },
    /** Whether a batch starting at `first` lies in a range refused for good: it is bisected, not pipelined. */
    isolating(partition: number, first: bigint): boolean {
      const through = isolateThrough.get(partition);
      return through !== undefined && first <= through;
    },
    /** A batch of an isolated range was applied: once past the range, pipelining resumes. */
    isolated(partition: number, last: bigint) {
      const through = isolateThrough.get(partition);
      if (through !== undefined && last >= through) isolateThrough.delete(partition);
    },
    /** Holds the fetch loop while too much is pending, heartbeating so the group keeps this member. */
    async backpressure(heartbeat: () => Promise<void>) {
      while (pendingItems > maxPendingItems && inFlight.size > 0) {
        await Promise.race([...inFlight, new Promise((resolve) => setTimeout(resolve, 1_000))]);
        await heartbeat();
      }
    },
    async drain() {
      while (inFlight.size > 0 || committing) {
        await Promise.all([...inFlight]);
        await committing;
      }
    },
  };
}
