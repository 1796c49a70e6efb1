import {
  closeServer,
  createHttpApp,
  createLifecycle,
  finishHttpApp,
  type Lifecycle,
  type Logger,
  listen,
  portOf,
  type ReadinessCheck,
  type Telemetry,
} from "@tollgate/kit";
import type { Kafka } from "kafkajs";
import { type ConsumeLoop, type ConsumeLoopOptions, decodeUsageRecord, startConsumeLoop } from "./consume-loop";
import { createKafka, createKafkaPublisher } from "./kafka";
import { type DeadLetter, TOPICS, type UsageBatchHandler } from "./topics";

export interface ConsumerServiceOptions {
  name: "aggregator" | "sink";
  groupId: string;
  brokers: string[];
  port: number;
  host: string;
  handle: UsageBatchHandler;
  logger: Logger;
  telemetry: Telemetry;
  readiness: ReadinessCheck[];
  /** Closes the service's own stores, after the consumer has stopped. */
  closeStores: () => Promise<void>;
  tuning?: ConsumeLoopOptions<unknown>["tuning"];
  /** Work that runs beside the loop (e.g. the aggregator's rebuild guard); stopped before the consumer. */
  attach?: (loop: ConsumeLoop, kafka: Kafka) => { stop(): Promise<void> | void };
}

/**
 * A service that consumes tollgate.usage.v1 through the one consume loop and
 * serves only health and metrics. Shutdown order: not ready → HTTP closed →
 * consumer stopped (the batch in hand finishes and commits) → dead-letter
 * producer closed → stores closed → telemetry flushed.
 */
export async function runConsumerService(options: ConsumerServiceOptions): Promise<Lifecycle> {
  const { logger } = options;
  const lifecycle = createLifecycle(logger);
  lifecycle.handleSignals();
  const kafka = createKafka({ clientId: `tollgate-${options.name}`, brokers: options.brokers, logger });
  const deadLetters = await createKafkaPublisher(kafka);
  const loop = await startConsumeLoop({
    kafka,
    groupId: options.groupId,
    topic: TOPICS.usage,
    stage: options.name,
    decode: (message, partition) => ({
      event: decodeUsageRecord(message),
      position: { stream: `${TOPICS.usage}/${partition}`, offset: message.offset },
    }),
    handle: (items) =>
      options.handle(
        items.map((item) => item.event),
        items.map((item) => item.position),
      ),
    deadLetter: (letters: DeadLetter[]) => deadLetters.deadLetter(letters),
    logger,
    ...(options.tuning ? { tuning: options.tuning } : {}),
  });

  const attached = options.attach?.(loop, kafka);

  const app = createHttpApp({
    logger,
    isShuttingDown: () => lifecycle.shuttingDown,
    readiness: [{ name: "kafka consumer", check: () => loop.ready() }, ...options.readiness],
    metricsHandler: (req, res) => options.telemetry.metricsHandler(req, res),
  });
  finishHttpApp(app, logger);
  const server = await listen(app, options.port, options.host);
  logger.info({ port: portOf(server), group: options.groupId }, `${options.name} consuming`);

  lifecycle.onShutdown("http", () => closeServer(server));
  if (attached) lifecycle.onShutdown(`${options.name} companion`, async () => attached.stop());
  lifecycle.onShutdown("kafka consumer", () => loop.stop());
  lifecycle.onShutdown("dead-letter producer", () => deadLetters.close());
  lifecycle.onShutdown("stores", () => options.closeStores());
  lifecycle.onShutdown("telemetry", () => options.telemetry.shutdown());
  return lifecycle;
}
