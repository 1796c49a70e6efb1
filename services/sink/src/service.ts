import { createGroupCommitter, type UsageBatchHandler } from "@tollgate/bus";
import type { UsageEvent } from "@tollgate/events";
import { insertUsageEvents, type SqlStore, storedEventIds } from "@tollgate/sql";

export interface SinkOptions {
  /** Rows per ClickHouse insert at most; a full batch is inserted at once. */
  maxRows?: number;
  /** How long a batch that is not full waits for more rows (0: insert at once). */
  lingerMs?: number;
}

/**
 * The sink's work, the same in both modes: load events into usage_events
 * exactly once. Batches from the consumer are grouped into inserts by size
 * and time; each caller hears back only once its rows are in ClickHouse, so
 * the consume loop commits offsets only then.
 *
 * Before inserting, ids ClickHouse already has are dropped (usage_event_ids,
 * filled in the same INSERT by a view), as are repeats within the batch and
 * ids an earlier insert still in flight carries: a batch replayed after a
 * crash between the insert and the offset commit, or a producer's retry, is
 * not inserted twice — so the rollup views fed by the same INSERT never
 * count an event twice.
 *
 * Two flushes run at once (a server parses each INSERT on one thread, so two
 * use two cores); their ids are disjoint by construction. Callers hear back
 * in the order they called (the pipelined consume loop relies on it).
 */
export function createSinkHandler(store: SqlStore, options: SinkOptions = {}): UsageBatchHandler {
  const inserting = new Set<string>();
  let previous: Promise<void> = Promise.resolve();
  const committer = createGroupCommitter<UsageEvent>(
    (events) => {
      const unique = new Map<string, UsageEvent>();
      for (const event of events) {
        if (!unique.has(event.event_id) && !inserting.has(event.event_id)) unique.set(event.event_id, event);
      }
      for (const id of unique.keys()) inserting.add(id);
      const before = previous;
      const flush = (async () => {
        try {
          const stored = await storedEventIds(store, [...unique.keys()]);
          const fresh = [...unique.values()].filter((event) => !stored.has(event.event_id));
          if (fresh.length > 0) await insertUsageEvents(store, fresh);
        } finally {
          for (const id of unique.keys()) inserting.delete(id);
        }
        // Callers hear back in order. An earlier flush that failed does not fail this one:
        // the consume loop rewinds the failed batch's partitions and commits nothing past it.
        await before;
      })();
      previous = flush.catch(() => undefined);
      return flush;
    },
    { maxItems: options.maxRows ?? 50_000, lingerMs: options.lingerMs ?? 0, concurrency: 2 },
  );
  return (events) => committer.submit(events);
}
