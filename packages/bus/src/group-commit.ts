import { type RefusedItem, RefusedItemsError } from "./isolate";

/**
 * Group commit: callers hand in items and wait; whatever arrives while a
 * flush is running goes into the next one. Under load this turns many small
 * writes (one per HTTP request) into few large ones (one Kafka produce
 * request, one chDB insert) without a linger timer adding latency when idle.
 * Each caller's promise settles with the flush that carried its items, so
 * nobody is told "done" before the write is.
 *
 * A flush may refuse some items for good and still write the rest: it then
 * returns them (indices into the items it was given), and only the callers
 * whose items were refused hear so, with a RefusedItemsError naming their
 * own items; every other caller of that flush is told "done". One caller's
 * bad item never fails the callers that shared its flush.
 */
export interface GroupCommitter<T> {
  submit(items: ReadonlyArray<T>): Promise<void>;
  /** Resolves once every submitted item has been flushed (or failed). */
  drain(): Promise<void>;
}

export function createGroupCommitter<T>(
  // biome-ignore lint/suspicious/noConfusingVoidType: a flush that refuses nothing returns nothing (most do)
  flush: (items: T[]) => Promise<void | ReadonlyArray<RefusedItem>>,
  options: {
    concurrency?: number;
    maxItems?: number;
    /**
     * Wait up to this long for more items before a flush that is not full
     * (larger inserts for ClickHouse); 0 flushes at once (lowest latency).
     */
    lingerMs?: number;
  } = {},
): GroupCommitter<T> {
  const concurrency = options.concurrency ?? 1;
  const maxItems = options.maxItems ?? Number.POSITIVE_INFINITY;
  const lingerMs = options.lingerMs ?? 0;
  let lingering: NodeJS.Timeout | undefined;
  let queuedItems = 0;
  type Waiter = { items: ReadonlyArray<T>; resolve: () => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let running = 0;
  let idle: Array<() => void> = [];

  const take = (): Waiter[] => {
    // At least one waiter per flush, then as many as fit under maxItems.
    let count = 0;
    let n = 0;
    while (n < queue.length && (n === 0 || count + (queue[n]?.items.length ?? 0) <= maxItems)) {
      count += queue[n]?.items.length ?? 0;
      n++;
    }
    const batch = queue.slice(0, n);
    queue = queue.slice(n);
    queuedItems -= count;
    return batch;
  };

  const pump = (force = false) => {
    if (lingerMs > 0 && !force && queuedItems < maxItems && queue.length > 0) {
      // Not full yet: give more items until the linger ends.
      lingering ??= setTimeout(() => {
        lingering = undefined;
        pump(true);
      }, lingerMs);
      return;
    }
    clearTimeout(lingering);
    lingering = undefined;
    while (running < concurrency && queue.length > 0) {
      const batch = take();
      running++;
      const settle = (err?: unknown, refused?: ReadonlyArray<RefusedItem>) => {
        // The next flush starts before callers hear back, so it already
        // holds whatever queued up during this one.
        running--;
        pump(queuedItems >= maxItems);
        if (err !== undefined) for (const w of batch) w.reject(err);
        else if (!refused || refused.length === 0) for (const w of batch) w.resolve();
        else settleEach(batch, refused);
        if (running === 0 && queue.length === 0) {
          const waiting = idle;
          idle = [];
          for (const resolve of waiting) resolve();
        }
      };
      flush(batch.flatMap((w) => [...w.items])).then(
        (refused) => settle(undefined, refused ?? undefined),
        (err: unknown) => settle(err ?? new Error("flush failed")),
      );
    }
  };

  return {
    submit(items) {
      if (items.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ items, resolve, reject });
        queuedItems += items.length;
        pump();
      });
    },
    drain() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      if (queue.length > 0) pump(true); // shutdown: flush what lingers now
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}

/** Tells each waiter of a flush about its own refused items (indices local to its submit), or "done". */
function settleEach(
  batch: ReadonlyArray<{ items: ReadonlyArray<unknown>; resolve: () => void; reject: (err: unknown) => void }>,
  refused: ReadonlyArray<RefusedItem>,
): void {
  const sorted = [...refused].sort((a, b) => a.index - b.index);
  let next = 0;
  let offset = 0;
  for (const w of batch) {
    const end = offset + w.items.length;
    const own: RefusedItem[] = [];
    for (; next < sorted.length && (sorted[next]?.index ?? end) < end; next++) {
      const r = sorted[next] as RefusedItem;
      own.push({ ...r, index: r.index - offset });
    }
    offset = end;
    if (own.length === 0) w.resolve();
    else w.reject(new RefusedItemsError(own));
  }
}
