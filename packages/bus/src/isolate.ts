import { classifyFailure } from "@tollgate/kit";

/** An item a store refused for good, by its index in the call that carried it. */
export interface RefusedItem {
  index: number;
  /** The store's own error text (for the dead letter and the logs, not for clients). */
  reason: string;
  /** What the dead letter keeps, when the refusing side has it at hand (e.g. the row it sent). */
  payload?: string;
}

/**
 * Thrown by a writer (a batch handler, a publish) that applied every item
 * of the call except `refused`: those were refused permanently, the rest are
 * durable. Callers dead-letter the refused ones and go on; it is not an
 * outage and must not be retried as one.
 */
export class RefusedItemsError extends Error {
  constructor(readonly refused: ReadonlyArray<RefusedItem>) {
    super(
      `${refused.length} item(s) refused by the store: ${refused
        .slice(0, 3)
        .map((r) => r.reason)
        .join(" | ")}`,
    );
    this.name = "RefusedItemsError";
  }
}

/**
 * Applies `items` with `apply`; when the store refuses the call for a
 * permanent reason (see classifyFailure), splits it in halves, recursively,
 * until the refusal is pinned on single items. Returns those (index, reason);
 * every other item has been applied. A transient failure at any depth is
 * thrown: the caller retries the whole call, and since writers are
 * idempotent by event_id, halves that were applied already are no-ops then.
 *
 * Halves run one after the other, in order, so a writer that cares about
 * order within a partition sees it kept. One offender among n items costs
 * about 2·log2(n) extra calls.
 */
export async function applyIsolated<T>(
  items: ReadonlyArray<T>,
  apply: (items: T[]) => Promise<void>,
): Promise<RefusedItem[]> {
  const refused: RefusedItem[] = [];
  const run = async (from: number, to: number): Promise<void> => {
    try {
      await apply(items.slice(from, to));
    } catch (err) {
      if (err instanceof RefusedItemsError) {
        // The writer isolated its offenders itself; everything else went in.
        for (const r of err.refused) refused.push({ ...r, index: from + r.index });
        return;
      }
      if (classifyFailure(err) !== "permanent") throw err;
      if (to - from === 1) {
        refused.push({ index: from, reason: errorText(err) });
        return;
      }
      const middle = from + Math.ceil((to - from) / 2);
      await run(from, middle);
      await run(middle, to);
    }
  };
  if (items.length > 0) await run(0, items.length);
  return refused;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
