import { type DeadLetter, TOPICS } from "@tollgate/bus";
import type { Kafka } from "kafkajs";
import { eventually } from "./processes";

/** Waits until `groupId` has committed every partition of the usage topic up to its current end. */
export async function waitCommittedToEnd(kafka: Kafka, groupId: string, timeoutMs = 90_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(TOPICS.usage);
    await eventually(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId, topics: [TOPICS.usage] });
        // An empty partition has nothing to commit (its offset stays -1).
        const done = ends.every(
          (end) =>
            end.high === end.low ||
            committed?.partitions.find((p) => p.partition === end.partition)?.offset === end.offset,
        );
        return done ? true : undefined;
      },
      `${groupId} to commit the whole usage topic`,
      timeoutMs,
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every dead letter on the dead-letter topic so far: reads from the start up
 * to the end offsets taken now (a consumer of its own, no group offsets kept).
 */
export async function readDeadLetters(kafka: Kafka): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(TOPICS.deadLetter);
  await admin.disconnect();
  const total = ends.reduce((sum, end) => sum + Number(end.high) - Number(end.low), 0);
  if (total === 0) return [];
  const letters: DeadLetter[] = [];
  const consumer = kafka.consumer({ groupId: `dlq-reader-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPICS.deadLetter, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value) letters.push(JSON.parse(message.value.toString()) as DeadLetter);
      },
    });
    await eventually(async () => (letters.length >= total ? true : undefined), "the dead-letter topic to be read");
  } finally {
    await consumer.disconnect();
  }
  return letters;
}
