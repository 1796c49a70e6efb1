import { describe, expect, it, vi } from "vitest";
import { createGroupCommitter } from "./group-commit";
import { RefusedItemsError } from "./isolate";

/** A flush the test completes by hand, to see what was batched with what. */
function manualFlush() {
  const calls: Array<{ items: number[]; done: () => void; fail: (err: Error) => void }> = [];
  const flush = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ items, done: resolve, fail: reject });
    });
  return { calls, flush };
}

describe("group commit", () => {
  it("batches what arrives during a flush into the next one, and settles each caller with its flush", async () => {
    const { calls, flush } = manualFlush();
    const committer = createGroupCommitter(flush);
    const settled: string[] = [];
    const a = committer.submit([1]).then(() => settled.push("a"));
    const b = committer.submit([2, 3]).then(() => settled.push("b"));
    const c = committer.submit([4]).then(() => settled.push("c"));
    expect(calls.map((call) => call.items)).toEqual([[1]]);

    calls[0]?.done();
    await a;
    expect(settled).toEqual(["a"]);
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3, 4]]);

    calls[1]?.done();
    await Promise.all([b, c]);
    expect(settled).toEqual(["a", "b", "c"]);
  });

  it("refuses only the callers whose items the flush refused, naming their own items", async () => {
    // The flush writes everything but items 12 and 31 (what a bisected store write returns).
    const committer = createGroupCommitter(async (items: number[]) =>
      items.flatMap((item, index) => (item === 12 || item === 31 ? [{ index, reason: `bad ${item}` }] : [])),
    );
    const outcomes = await Promise.allSettled([
      committer.submit([10, 11, 12, 13]),
      committer.submit([20, 21]),
      committer.submit([30, 31]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "fulfilled", "rejected"]);
    const refusedOf = (o: PromiseSettledResult<void>) =>
      o.status === "rejected" && o.reason instanceof RefusedItemsError ? o.reason.refused : null;
    expect(refusedOf(outcomes[0] as PromiseSettledResult<void>)).toEqual([{ index: 2, reason: "bad 12" }]);
    expect(refusedOf(outcomes[2] as PromiseSettledResult<void>)).toEqual([{ index: 1, reason: "bad 31" }]);
  });

  it("fails exactly the callers of a failed flush", async () => {
    const { calls, flush } = manualFlush();
    const committer = createGroupCommitter(flush);
    const first = committer.submit([1]);
    const second = committer.submit([2]);
    calls[0]?.fail(new Error("broker down"));
    await expect(first).rejects.toThrow("broker down");
    calls[1]?.done();
    await expect(second).resolves.toBeUndefined();
  });

  it("runs up to `concurrency` flushes at once, each under maxItems (a larger single submit goes alone)", async () => {
    const { calls, flush } = manualFlush();
    const committer = createGroupCommitter(flush, { concurrency: 2, maxItems: 3 });
    const all = [
      committer.submit([1]),
      committer.submit([2, 3]),
      committer.submit([4, 5]),
      committer.submit([6, 7, 8, 9]),
    ];
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3]]);
    calls[0]?.done();
    await all[0];
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3], [4, 5]]);
    calls[1]?.done();
    await all[1];
    expect(calls[3]?.items).toEqual([6, 7, 8, 9]);
    calls[2]?.done();
    calls[3]?.done();
    await Promise.all(all);
    await expect(committer.drain()).resolves.toBeUndefined();
  });

  it("drains: resolves once everything submitted has been flushed", async () => {
    const { calls, flush } = manualFlush();
    const committer = createGroupCommitter(flush);
    void committer.submit([1]);
    let drained = false;
    const drain = committer.drain().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    calls[0]?.done();
    await drain;
    expect(drained).toBe(true);
  });
});

describe("group commit with a linger", () => {
  it("waits up to lingerMs to fill a flush, and flushes a full one at once", async () => {
    vi.useFakeTimers();
    try {
      const flushed: number[][] = [];
      const committer = createGroupCommitter(
        async (items: number[]) => {
          flushed.push(items);
        },
        { lingerMs: 200, maxItems: 5 },
      );
      const first = committer.submit([1, 2]);
      const second = committer.submit([3]);
      await vi.advanceTimersByTimeAsync(199);
      expect(flushed).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await Promise.all([first, second]);
      expect(flushed).toEqual([[1, 2, 3]]);

      const full = committer.submit([4, 5, 6, 7, 8]); // maxItems reached: no waiting
      await vi.advanceTimersByTimeAsync(0);
      await full;
      expect(flushed).toEqual([
        [1, 2, 3],
        [4, 5, 6, 7, 8],
      ]);

      const late = committer.submit([9]);
      await committer.drain(); // shutdown flushes what lingers
      await late;
      expect(flushed.at(-1)).toEqual([9]);
    } finally {
      vi.useRealTimers();
    }
  });
});
