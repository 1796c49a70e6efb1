import { TOPICS } from "@tollgate/bus";
import { Kafka, logLevel } from "kafkajs";
import { BATCH, usageMessages } from "./bodies";
import { percentile, type Row } from "./table";

/**
 * The baseline: a kafkajs producer alone, sending the records ingest would
 * send (same Avro, key, header, acks -1, topic) to the same broker, 100 per
 * `send`, `concurrency` sends in flight — no HTTP, no parsing, no validation.
 * It runs in this process; during it the load generator is idle, so it has
 * the CPU ingest shares with autocannon in the HTTP workloads.
 */
export async function rawProducerRun(options: {
  name: string;
  brokers: string;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
}): Promise<Row> {
  const kafka = new Kafka({ clientId: "bench-raw-producer", brokers: [options.brokers], logLevel: logLevel.ERROR });
  // Ingest's producer settings (packages/bus/src/kafka.ts). The cap of 5
  // requests in flight is also the faster choice here: without it (kafkajs'
  // default) all 32 sends hit the mock broker at once and the baseline
  // dropped from ~58k to ~40k events/s on the 2-core machine, which would
  // flatter every ratio.
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false, maxInFlightRequests: 5 });
  await producer.connect();

  const send = () => producer.send({ topic: TOPICS.usage, acks: -1, messages: usageMessages(Date.now()) });

  /** `concurrency` loops, each one send at a time, until the deadline; counts completed sends. */
  const drive = async (seconds: number, latencies: number[] | null) => {
    const until = performance.now() + seconds * 1000;
    let sends = 0;
    const loop = async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await send();
        latencies?.push(performance.now() - started);
        sends++;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, loop));
    return sends;
  };

  try {
    await drive(options.warmupSeconds, null); // connections, metadata, JIT
    const latencies: number[] = [];
    const started = performance.now();
    const sends = await drive(options.seconds, latencies);
    // Divide by the time until the last send came back, as the sends that
    // started before the deadline are counted.
    const elapsedS = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      name: options.name,
      eventsPerSecond: (sends * BATCH) / elapsedS,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      note: `${sends} sends`,
    };
  } finally {
    await producer.disconnect();
  }
}
