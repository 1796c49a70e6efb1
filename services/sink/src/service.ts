import { applyIsolated, createGroupCommitter, type RefusedItem, type UsageBatchHandler } from "@tollgate/bus";
import { insertUsageEventLines, type SqlStore, storedEventIds, usageEventLine } from "@tollgate/sql";

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
 *
 * Events are serialised to their row as they arrive and only the line is
 * kept until the insert: a batch waits here long enough to outlive the young
 * generation, and one string per row is far less for the GC to move and mark
 * than an event object with its dozen strings.
 *
 * A row ClickHouse refuses for good (see classifyFailure: a value the column
 * cannot take) does not fail its flush: the flush is bisected down to the
 * refused rows, everything else is inserted, and only the callers whose rows
 * were refused hear so (RefusedItemsError, with the row as payload): the
 * consume loop dead-letters them, embedded ingest answers them as rejected.
 */
export function createSinkHandler(store: SqlStore, options: SinkOptions = {}): UsageBatchHandler {
  const inserting = new Set<string>();
  let previous: Promise<void> = Promise.resolve();
  const committer = createGroupCommitter<SinkRow>(
    (rows) => {
      const unique = new Map<string, string>();
      for (const row of rows) {
        if (!unique.has(row.id) && !inserting.has(row.id)) unique.set(row.id, row.line);
      }
      for (const id of unique.keys()) inserting.add(id);
      const before = previous;
      const flush = (async (): Promise<RefusedItem[]> => {
        const entries = [...unique];
        let refusedIds: Map<string, string>;
        try {
          // The stored-ids check is inside the isolated step: after a half is
          // inserted and a later one fails, a retry skips what went in.
          const refused = await applyIsolated(entries, async (part) => {
            const stored = await storedEventIds(
              store,
              part.map(([id]) => id),
            );
            const fresh: string[] = [];
            for (const [id, line] of part) if (!stored.has(id)) fresh.push(line);
            if (fresh.length > 0) await insertUsageEventLines(store, fresh);
          });
          refusedIds = new Map(refused.map((r) => [(entries[r.index] as [string, string])[0], r.reason]));
        } finally {
          for (const id of unique.keys()) inserting.delete(id);
        }
        // Callers hear back in order. An earlier flush that failed does not fail this one:
        // the consume loop rewinds the failed batch's partitions and commits nothing past it.
        await before;
        if (refusedIds.size === 0) return [];
        // Back to the flush's rows: a repeat of a refused id is refused with it.
        const refusedRows: RefusedItem[] = [];
        rows.forEach((row, index) => {
          const reason = refusedIds.get(row.id);
          if (reason !== undefined) refusedRows.push({ index, reason, payload: row.line });
        });
        return refusedRows;
      })();
      previous = flush.then(
        () => undefined,
        () => undefined,
      );
      return flush;
    },
    { maxItems: options.maxRows ?? 50_000, lingerMs: options.lingerMs ?? 0, concurrency: 2 },
  );
  return (events) => committer.submit(events.map((event) => ({ id: event.event_id, line: usageEventLine(event) })));
}

/** An event as the sink holds it until its insert. */
interface SinkRow {
  id: string;
  line: string;
}
