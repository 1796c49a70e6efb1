import { TOPICS } from "@tollgate/bus";
import { engineEnv } from "./engines";
import { startBinary } from "./processes";

export interface PrivateBroker {
  brokers: string;
  /** Fault injection: "down all", "up all", "down 1", "rtt 1 500". */
  command(line: string): void;
  stop(): Promise<void>;
}

/**
 * A Kafka-protocol broker (librdkafka's mock cluster, built by
 * infra/local/up.sh) owned by one test file: its topics, offsets and faults
 * touch no other test.
 */
export async function startPrivateBroker(partitions = 3): Promise<PrivateBroker> {
  const proc = startBinary(
    engineEnv().mockBrokerBin,
    ["--topic", `${TOPICS.usage}:${partitions}`, "--topic", `${TOPICS.deadLetter}:1`, "--topic", `${TOPICS.alerts}:1`],
    "mock broker",
  );
  const match = await proc.waitForOutput(/BOOTSTRAP (\S+)/, 10_000);
  return {
    brokers: match[1] as string,
    command(line) {
      proc.child.stdin?.write(`${line}\n`);
    },
    async stop() {
      await proc.stop("SIGTERM");
    },
  };
}
