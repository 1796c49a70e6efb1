import type { UsageEvent } from "@tollgate/events";
import { createGroupCommitter } from "./group-commit";
import type { DeadLetter, UsageBatchHandler, UsagePublisher } from "./topics";

/**
 * Embedded mode's bus: no Kafka, the handlers run in-process. `durable` runs
 * first (the chDB insert) and `publish` resolves only after it, so an event
 * is acknowledged once it is on disk; `after` handlers (counters) follow.
 * Concurrent publishes are group-committed: whatever arrives while one insert
 * runs goes into the next, so load makes fewer, larger inserts instead of a
 * part per request.
 */
export function createEmbeddedBus(options: {
  durable: UsageBatchHandler;
  after: UsageBatchHandler[];
  deadLetter: (letters: ReadonlyArray<DeadLetter>) => Promise<void>;
}): UsagePublisher {
  let closed = false;
  // Durable first; counters after. If the counters fail the events are on
  // disk already and a restart rebuilds the counters from the store.
  const committer = createGroupCommitter<UsageEvent>(async (events) => {
    await options.durable(events);
    for (const handler of options.after) await handler(events);
  });

  return {
    publish(events) {
      if (closed) return Promise.reject(new Error("bus is closed"));
      return committer.submit(events);
    },
    deadLetter: (letters) => options.deadLetter(letters),
    async ready() {
      if (closed) throw new Error("bus is closed");
    },
    async close() {
      closed = true;
      await committer.drain();
    },
  };
}
