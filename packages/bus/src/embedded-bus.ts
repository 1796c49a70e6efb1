import type { UsageEvent } from "@tollgate/events";
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
  type Pending = { events: ReadonlyArray<UsageEvent>; resolve: () => void; reject: (err: unknown) => void };
  let queue: Pending[] = [];
  let flushing = false;
  let closed = false;

  const flush = async () => {
    flushing = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      const events = batch.flatMap((p) => p.events);
      try {
        await options.durable(events);
      } catch (err) {
        for (const p of batch) p.reject(err);
        continue;
      }
      try {
        for (const handler of options.after) await handler(events);
        for (const p of batch) p.resolve();
      } catch (err) {
        // Durable already: a restart rebuilds the counters from the store.
        for (const p of batch) p.reject(err);
      }
    }
    flushing = false;
  };

  return {
    publish(events) {
      if (closed) return Promise.reject(new Error("bus is closed"));
      if (events.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ events, resolve, reject });
        if (!flushing) void flush();
      });
    },
    deadLetter: (letters) => options.deadLetter(letters),
    async ready() {
      if (closed) throw new Error("bus is closed");
    },
    async close() {
      closed = true;
      while (flushing) await new Promise((r) => setImmediate(r));
    },
  };
}
