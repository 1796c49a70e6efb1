import type { UsageEvent } from "@tollgate/events";
import { createGroupCommitter } from "./group-commit";
import { applyIsolated } from "./isolate";
import type { DeadLetter, UsageBatchHandler, UsagePublisher } from "./topics";

/**
 * Embedded mode's bus: no Kafka, the handlers run in-process. `durable` runs
 * first (the chDB insert) and `publish` resolves only after it, so an event
 * is acknowledged once it is on disk; `after` handlers (counters) follow.
 * Concurrent publishes are group-committed: whatever arrives while one insert
 * runs goes into the next, so load makes fewer, larger inserts instead of a
 * part per request.
 *
 * A group the store refuses for good (see classifyFailure) is bisected down
 * to the offending events: the rest are written and acknowledged, the
 * offenders are kept as dead letters with the store's error, and only the
 * publishes that carried them reject, with a RefusedItemsError naming them
 * (ingest answers those items as rejected). A bad report from one request
 * never costs a concurrent request its good ones.
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
    const refused = await applyIsolated(events, (part) => options.durable(part));
    if (refused.length === 0) {
      for (const handler of options.after) await handler(events);
      return refused;
    }
    const receivedAtMs = Date.now();
    await options.deadLetter(
      refused.map((r) => {
        const event = events[r.index] as UsageEvent;
        return {
          stage: "sink",
          reason: `refused by the store: ${r.reason}`,
          errors: [],
          // The event as JSON (lone surrogates escaped, so the dead letter itself stores).
          payload: JSON.stringify(event),
          key_id: event.key_id ?? null,
          received_at_ms: receivedAtMs,
        } satisfies DeadLetter;
      }),
    );
    const refusedAt = new Set(refused.map((r) => r.index));
    const written = events.filter((_, index) => !refusedAt.has(index));
    for (const handler of options.after) await handler(written);
    return refused;
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
