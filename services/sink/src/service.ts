import type { UsageBatchHandler } from "@tollgate/bus";
import { insertUsageEvents, type SqlStore } from "@tollgate/sql";

/**
 * The sink's work, the same in both modes: one insert per batch. The table
 * deduplicates by event_id, so a batch replayed after a crash before the
 * offset commit is collapsed by every query that reads with FINAL.
 */
export function createSinkHandler(store: SqlStore): UsageBatchHandler {
  return (events) => insertUsageEvents(store, events);
}
