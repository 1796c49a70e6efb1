import { trace } from "@opentelemetry/api";
import { decodeUsageEventWritten, SCHEMA_FINGERPRINT_HEADER, type UsageEvent } from "@tollgate/events";
import type { Consumer, ConsumerRunConfig, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import { applyIsolated, errorText, type RefusedItem, RefusedItemsError } from "./isolate";
import { createPipeline } from "./pipeline";
import type { DeadLetter } from "./topics";

const tracer = trace.getTracer("tollgate-bus");
/** Backoff of a rejoin after a crash kafkajs does not restart from: 1 s doubling up to 30 s. */
const REJOIN_FIRST_DELAY_MS = 1_000;
const REJOIN_MAX_DELAY_MS = 30_000;

export interface ConsumeLoopOptions<T> {
  kafka: Kafka;
  groupId: string;
  topic: string;
  stage: DeadLetter["stage"];
  /** Throws on a record that can never be processed (poison): it goes to the dead-letter topic. */
  /** `partition`: where the message was read (the offset is on the message). */
  decode: (message: KafkaMessage, partition: number) => T;
  /**
   * Applies a batch; must be idempotent, since a crash before the commit
   * replays it. A permanent refusal (see classifyFailure) is bisected down to
   * the offending items, or the handler isolates them itself and throws a
   * RefusedItemsError; either way those go to the dead-letter topic and the
   * partition moves on. Any other error is retried and nothing is skipped.
   */
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
     * committed once its `handle` promise resolves, and after every earlier
     * batch of its partition. Without it, the loop waits for each batch
     * before fetching the next one. In this mode the loop does not keep the
     * items while they are pending (the sink drops them once serialised), so
     * a batch refused with a plain permanent error is fetched again and
     * bisected then, without pipelining.
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
 * effect exactly once. A transient handler error (an outage) is retried with
 * backoff and nothing is committed meanwhile; a permanent one costs only the
 * offending records, which go to the dead-letter topic with the store's
 * error (poison must not block a partition for good).
 */
export async function startConsumeLoop<T>(options: ConsumeLoopOptions<T>): Promise<ConsumeLoop> {
  const log = options.logger.child({ component: "consume-loop", group: options.groupId });
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    // How long the coordinator waits for every member to rejoin in a rebalance (kafkajs: 60 s). A batch
    // here takes well under a second, so 20 s is ample, and a group whose members crashed forms again
    // within it, not a minute later (measured on the mock broker: restarts after SIGKILL).
    rebalanceTimeout: 20_000,
    // Freshness: an idle fetch returns within 100 ms instead of kafkajs' 5 s.
    maxWaitTimeInMs: 100,
    maxBytesPerPartition: options.tuning?.maxBytesPerPartition ?? 1_048_576,
    maxBytes: Math.max(10_485_760, 6 * (options.tuning?.maxBytesPerPartition ?? 0)),
    retry: { initialRetryTime: 200, retries: 8 },
  });
  let joined = false;
  let stopping = false;
  let assignment: number[] = [];
  let generation = 0;
  const positions = new Map<number, bigint>();
  let rejoinTimer: NodeJS.Timeout | undefined;
  let rejoinDelayMs = REJOIN_FIRST_DELAY_MS;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    joined = true;
    generation++;
    assignment = [...(payload.memberAssignment[options.topic] ?? [])].sort((a, b) => a - b);
    rejoinDelayMs = REJOIN_FIRST_DELAY_MS;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    joined = false;
    log.error({ err: payload.error, restart: payload.restart }, "consumer crashed");
    // kafkajs restarts itself only after a retriable error. After any other (e.g. a coordinator
    // answering SyncGroup with INVALID_REQUEST mid-rebalance) it stays stopped for good, and the
    // process would live on consuming nothing: rejoin the same way kafkajs does, with backoff.
    if (!payload.restart && !stopping) scheduleRejoin();
  });

  function scheduleRejoin(): void {
    clearTimeout(rejoinTimer);
    log.warn({ inMs: rejoinDelayMs }, "consumer stopped after a crash: rejoining its group");
    rejoinTimer = setTimeout(() => {
      if (stopping) return;
      consumer.run(runConfig).catch((err: unknown) => {
        log.error({ err }, "rejoining the group failed");
        if (!stopping) scheduleRejoin();
      });
    }, rejoinDelayMs);
    rejoinDelayMs = Math.min(rejoinDelayMs * 2, REJOIN_MAX_DELAY_MS);
  }
  consumer.on(consumer.events.STOP, () => {
    joined = false;
  });

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  const pipeline = options.tuning?.pipelineMaxPendingItems
    ? createPipeline(consumer, options.topic, options.tuning.pipelineMaxPendingItems, positions, log)
    : null;
  const runConfig: ConsumerRunConfig = {
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
          const decoded: KafkaMessage[] = [];
          const poison: DeadLetter[] = [];
          for (const message of batch.messages) {
            try {
              items.push(options.decode(message, batch.partition));
              decoded.push(message);
            } catch (err) {
              poison.push(
                letter(
                  `undecodable record at ${batch.topic}/${batch.partition}@${message.offset}: ${errorText(err)}`,
                  payloadOf(message),
                ),
              );
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
          const first = BigInt(batch.firstOffset() ?? last);
          const offsets = decoded.map((m) => m.offset);
          const where = { topic: batch.topic, partition: batch.partition, offsets };
          if (pipeline && !pipeline.isolating(batch.partition, first)) {
            const durable = handOver(items, where);
            resolveOffset(last); // the next fetch moves on; the commit waits for `durable`
            pipeline.track(batch.partition, first, BigInt(last), items.length, durable);
            await pipeline.backpressure(heartbeat);
            return;
          }
          if (pipeline) {
            const applied = applyBisecting(items, decoded, where);
            // A range refused while pipelined, fetched again: bisected here, one batch at a time.
            resolveOffset(last);
            pipeline.track(batch.partition, first, BigInt(last), items.length, applied);
            await applied.then(
              () => pipeline.isolated(batch.partition, BigInt(last)),
              () => undefined,
            );
            return;
          }
          if (!(await applyThroughOutages(() => applyBisecting(items, decoded, where), heartbeat, isStale))) return;
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
  };
  await consumer.run(runConfig);

  /**
   * Pipelined: hands the items over and keeps none of the records while they
   * are pending (only their offsets), so a refused record's dead letter
   * carries what the handler gives for it (the sink: its row).
   */
  function handOver(items: T[], where: Where): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return options.handle(items).catch(async (err: unknown) => {
      if (!(err instanceof RefusedItemsError)) throw err;
      await refuse(err.refused, where);
    });
  }

  /**
   * Retries a batch through an outage (store unreachable, timeouts) here,
   * heartbeating between attempts, instead of throwing to kafkajs: its retry
   * sends no heartbeats, so an outage longer than the session timeout cost
   * the member its group and the commit after it crashed the consumer for
   * good (found by test/fault/store-outage). Returns false when the
   * partition moved meanwhile (the new owner replays); throws once the loop
   * is stopping, or when a heartbeat says the group is rebalancing (kafkajs
   * rejoins).
   */
  async function applyThroughOutages(
    apply: () => Promise<void>,
    heartbeat: () => Promise<void>,
    isStale: () => boolean,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await apply();
        return true;
      } catch (err) {
        if (stopping) throw err;
        const backoffMs = Math.min(5_000, 100 * 2 ** attempt);
        log.error({ err: errorText(err), attempt, backoffMs }, "batch failed; retrying");
        for (let waited = 0; waited < backoffMs && !stopping; waited += 1_000) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, backoffMs - waited)));
          await heartbeat();
        }
        if (isStale()) return false;
      }
    }
  }

  /** Applies a batch, bisecting a permanent refusal; the refused records go out as they were read. */
  async function applyBisecting(items: T[], records: KafkaMessage[], where: Where): Promise<void> {
    const refused = await applyIsolated(items, options.handle);
    await refuse(
      refused.map((r) => {
        const record = records[r.index];
        return record ? { ...r, payload: payloadOf(record) } : r;
      }),
      where,
    );
  }

  /** Dead-letters what the store refused for good; the batch's offset is committed only after this. */
  async function refuse(refused: ReadonlyArray<RefusedItem>, where: Where): Promise<void> {
    if (refused.length === 0) return;
    const at = (r: RefusedItem) => `${where.topic}/${where.partition}@${where.offsets[r.index] ?? "?"}`;
    log.warn(
      { count: refused.length, partition: where.partition, first: at(refused[0] as RefusedItem) },
      "records refused by the store sent to the dead-letter topic",
    );
    await options.deadLetter(
      refused.map((r) => letter(`refused by the store at ${at(r)}: ${r.reason}`, r.payload ?? "")),
    );
  }

  function letter(reason: string, payload: string): DeadLetter {
    return { stage: options.stage, reason, errors: [], payload, key_id: null, received_at_ms: Date.now() };
  }

  return {
    consumer,
    async ready() {
      if (!joined) throw new Error(`consumer ${options.groupId} has not joined its group`);
    },
    async stop() {
      stopping = true;
      clearTimeout(rejoinTimer);
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

/** Where a batch's items came from: the offset of each, by index. */
interface Where {
  topic: string;
  partition: number;
  offsets: ReadonlyArray<string>;
}

/** What a dead letter keeps of a record: its bytes, base64. */
function payloadOf(message: KafkaMessage): string {
  return message.value ? message.value.toString("base64") : "";
}

/** Decodes a tollgate.usage.v1 record written with the current or an earlier schema, refusing any other. */
export function decodeUsageRecord(message: KafkaMessage): UsageEvent {
  const fingerprint = message.headers?.[SCHEMA_FINGERPRINT_HEADER]?.toString();
  if (!message.value) throw new Error("record has no value");
  return decodeUsageEventWritten(fingerprint, message.value);
}
