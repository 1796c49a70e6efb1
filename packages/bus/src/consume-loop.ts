import { trace } from "@opentelemetry/api";
import {
  decodeUsageEvent,
  SCHEMA_FINGERPRINT_HEADER,
  USAGE_EVENT_FINGERPRINT,
  type UsageEvent,
} from "@tollgate/events";
import type { Consumer, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { DeadLetter } from "./topics";

const tracer = trace.getTracer("tollgate-bus");

export interface ConsumeLoopOptions<T> {
  kafka: Kafka;
  groupId: string;
  topic: string;
  stage: DeadLetter["stage"];
  /** Throws on a record that can never be processed (poison): it goes to the dead-letter topic. */
  decode: (message: KafkaMessage) => T;
  /** Applies a batch; must be idempotent, since a crash before the commit replays it. */
  handle: (items: T[]) => Promise<void>;
  deadLetter: (letters: DeadLetter[]) => Promise<void>;
  logger: Logger;
  /** Fetch sizes and parallelism: the sink wants large batches, the aggregator fresh ones. */
  tuning?: {
    partitionsConcurrently?: number;
    maxBytesPerPartition?: number;
    /**
     * Pipelined: fetching goes on while `handle` works, up to this many
     * items handed over and not yet durable; each batch's offset is
     * committed once its `handle` promise resolves. `handle` must settle its
     * promises in the order it was called. Without it, the loop waits for
     * each batch before fetching the next one.
     */
    pipelineMaxPendingItems?: number;
  };
}

export interface ConsumeLoop {
  consumer: Consumer;
  /** Throws unless the consumer is in its group and fetching. */
  ready(): Promise<void>;
  /** Finishes the batch in hand, commits, leaves the group. */
  stop(): Promise<void>;
  /** Partitions assigned to this member at its last group join. */
  assigned(): number[];
  /** Bumped at every group join: a replay planned under one assignment is void under the next. */
  generation(): number;
  /** Next offset to process per partition, as far as this member has processed (committed) it. */
  position(partition: number): bigint | undefined;
  pause(): void;
  resume(): void;
  /** Processes `partition` again from `offset` (a replay; handlers make it a no-op where already applied). */
  seek(partition: number, offset: bigint): void;
}

/**
 * The one consume loop every consumer uses. Per fetched batch: decode,
 * dead-letter the poison, hand the rest to `handle`, and only then commit the
 * batch's offsets. A crash anywhere before the commit replays the batch;
 * handlers make the replay a no-op (event_id guards), so each event has its
 * effect exactly once. A handler error is retried by kafkajs with backoff and
 * nothing is committed meanwhile.
 */
export async function startConsumeLoop<T>(options: ConsumeLoopOptions<T>): Promise<ConsumeLoop> {
  const log = options.logger.child({ component: "consume-loop", group: options.groupId });
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    // Freshness: an idle fetch returns within 100 ms instead of kafkajs' 5 s.
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: options.tuning?.maxBytesPerPartition ?? 1_048_576,
    maxBytes: Math.max(10_485_760, 6 * (options.tuning?.maxBytesPerPartition ?? 0)),
    retry: { initialRetryTime: 200, retries: 8 },
  });
  let joined = false;
  let assignment: number[] = [];
  let generation = 0;
  const positions = new Map<number, bigint>();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    joined = true;
    generation++;
    assignment = [...(payload.memberAssignment[options.topic] ?? [])].sort((a, b) => a - b);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    joined = false;
    log.error({ err: payload.error, restart: payload.restart }, "consumer crashed");
  });
  consumer.on(consumer.events.STOP, () => {
    joined = false;
  });

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  const pipeline = options.tuning?.pipelineMaxPendingItems
    ? createPipeline(consumer, options.topic, options.tuning.pipelineMaxPendingItems, positions, log)
    : null;
  await consumer.run({
    // Partitions are independent (one user's events share one): work on
    // several at once; order within each partition is kept.
    partitionsConsumedConcurrently: options.tuning?.partitionsConcurrently ?? 3,
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isStale }) => {
      if (batch.messages.length === 0) return;
      await tracer.startActiveSpan(`consume ${options.topic}`, async (span) => {
        try {
          const items: T[] = [];
          const poison: DeadLetter[] = [];
          for (const message of batch.messages) {
            try {
              items.push(options.decode(message));
            } catch (err) {
              poison.push({
                stage: options.stage,
                reason: `undecodable record at ${batch.topic}/${batch.partition}@${message.offset}: ${errorMessage(err)}`,
                errors: [],
                payload: message.value ? message.value.toString("base64") : "",
                key_id: null,
                received_at_ms: Date.now(),
              });
            }
          }
          span.setAttribute("messaging.batch.message_count", batch.messages.length);
          if (poison.length > 0) {
            log.warn(
              { count: poison.length, partition: batch.partition },
              "poison records sent to the dead-letter topic",
            );
            await options.deadLetter(poison);
          }
          const last = batch.lastOffset();
          if (pipeline) {
            const durable = items.length > 0 ? options.handle(items) : Promise.resolve();
            resolveOffset(last); // the next fetch moves on; the commit waits for `durable`
            pipeline.track(batch.partition, BigInt(batch.firstOffset() ?? last), BigInt(last), items.length, durable);
            await pipeline.backpressure(heartbeat);
            return;
          }
          if (items.length > 0) await options.handle(items);
          if (isStale()) return; // partition moved during a rebalance: the new owner replays.
          resolveOffset(last);
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
          ]);
          positions.set(batch.partition, BigInt(last) + 1n);
          await heartbeat();
        } finally {
          span.end();
        }
      });
    },
  });

  return {
    consumer,
    async ready() {
      if (!joined) throw new Error(`consumer ${options.groupId} has not joined its group`);
    },
    async stop() {
      if (pipeline) {
        // Stop fetching, let what was handed over become durable and commit, then leave.
        consumer.pause([{ topic: options.topic }]);
        await pipeline.drain();
      }
      await consumer.disconnect();
    },
    assigned: () => assignment,
    generation: () => generation,
    position: (partition) => positions.get(partition),
    pause: () => consumer.pause([{ topic: options.topic }]),
    resume: () => consumer.resume([{ topic: options.topic }]),
    seek(partition, offset) {
      positions.set(partition, offset);
      consumer.seek({ topic: options.topic, partition, offset: offset.toString() });
    },
  };
}

/** Decodes a tollgate.usage.v1 record, refusing one written with another schema. */
export function decodeUsageRecord(message: KafkaMessage): UsageEvent {
  const fingerprint = message.headers?.[SCHEMA_FINGERPRINT_HEADER]?.toString();
  if (fingerprint !== USAGE_EVENT_FINGERPRINT) {
    throw new Error(`schema fingerprint ${fingerprint ?? "(missing)"} is not the one this consumer reads`);
  }
  if (!message.value) throw new Error("record has no value");
  return decodeUsageEvent(message.value);
}

/**
 * The pipelined mode's bookkeeping: which handed-over batches are not yet
 * durable, committing each one's offset once it is (coalesced: one commit
 * request carries every partition that advanced meanwhile), and on a failed
 * batch rewinding its partition to the batch's first offset, so nothing is
 * committed past what was lost. Batches of that partition already handed
 * over after it are not committed either (their epoch is over); the rewind
 * fetches them again, and handlers make the repeat a no-op.
 */
function createPipeline(
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
        log.warn({ err: errorMessage(err) }, "offset commit failed; the uncommitted batches will be replayed");
      }
    }
    committing = null;
  };

  const rewind = (partition: number, first: bigint, err: unknown) => {
    epochs.set(partition, (epochs.get(partition) ?? 0) + 1);
    toCommit.delete(partition);
    const attempt = (failures.get(partition) ?? 0) + 1;
    failures.set(partition, attempt);
    const backoffMs = Math.min(5_000, 100 * 2 ** attempt);
    log.error({ err: errorMessage(err), partition, offset: first.toString(), backoffMs }, "batch failed; rewinding");
    consumer.pause([{ topic, partitions: [partition] }]);
    consumer.seek({ topic, partition, offset: first.toString() });
    setTimeout(() => consumer.resume([{ topic, partitions: [partition] }]), backoffMs).unref();
  };

  return {
    track(partition: number, first: bigint, last: bigint, items: number, durable: Promise<void>) {
      const epoch = epochs.get(partition) ?? 0;
      pendingItems += items;
      const settled: Promise<void> = durable.then(
        () => {
          if ((epochs.get(partition) ?? 0) !== epoch) return; // rewound meanwhile: this batch comes again
          failures.delete(partition);
          toCommit.set(partition, last + 1n);
          committing ??= commitLoop();
        },
        (err: unknown) => {
          if ((epochs.get(partition) ?? 0) === epoch) rewind(partition, first, err);
        },
      );
      inFlight.add(settled);
      void settled.finally(() => {
        pendingItems -= items;
        inFlight.delete(settled);
      });
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
