import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

// The patched module (patches/kafkajs@2.2.4.patch): kafkajs' producer groups every send through it.
const require = createRequire(import.meta.url);
const groupMessagesPerPartition = require("kafkajs/src/producer/groupMessagesPerPartition") as (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Array<{ key: string; value: string }>;
  partitioner: (args: { message: { key: string } }) => number;
}) => Record<string, Array<{ key: string; value: string }>>;

describe("kafkajs groupMessagesPerPartition (patched)", () => {
  it("puts every message in its partition, in send order", () => {
    const messages = Array.from({ length: 10_000 }, (_, i) => ({ key: `user-${i % 37}`, value: String(i) }));
    const partitionOf = (key: string) => Number(key.slice(5)) % 6;
    const grouped = groupMessagesPerPartition({
      topic: "t",
      partitionMetadata: [{}, {}, {}, {}, {}, {}],
      messages,
      partitioner: ({ message }) => partitionOf(message.key),
    });
    expect(Object.keys(grouped).sort()).toEqual(["0", "1", "2", "3", "4", "5"]);
    for (const [partition, inPartition] of Object.entries(grouped)) {
      expect(inPartition).toEqual(messages.filter((m) => partitionOf(m.key) === Number(partition)));
    }
  });

  it("groups nothing without partition metadata", () => {
    expect(
      groupMessagesPerPartition({
        topic: "t",
        partitionMetadata: [],
        messages: [{ key: "a", value: "1" }],
        partitioner: () => 0,
      }),
    ).toEqual({});
  });
});
