import type { Transport } from "./transport.js";
import type { Logger, WireEventsReply, WireUsageEvent } from "./types.js";

export interface ReporterOptions {
  ingestUrl: string;
  transport: Transport;
  logger: Logger;
  /** Events per POST /v1/events (the server takes at most INGEST_MAX_BATCH, default 1,000). */
  batchSize: number;
  /** How long a report may wait for its batch to fill. */
  flushIntervalMs: number;
  /** Events kept while Tollgate is unreachable; beyond it the oldest are dropped (and said so). */
  maxQueue: number;
  /** One batch's deadline: ingest may hold a request up to its publish timeout (5 s) before answering 503. */
  timeoutMs: number;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Usage reports, batched and sent in the background. Each event's id is
 * fixed when it is queued, so a batch resent after a lost answer is counted
 * once (ingest and the counters deduplicate by event_id). Retried with
 * backoff while Tollgate is unavailable; items the server rejects (a wrong
 * field, a tag the key may not name) will never pass and are dropped with a
 * log line.
 */
export function createReporter(options: ReporterOptions) {
  const queue: WireUsageEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending: Promise<void> | undefined;
  let failures = 0;
  let dropped = 0;
  /** While a flush has a deadline (shutdown), no batch may outlast it. */
  let flushDeadline = Number.POSITIVE_INFINITY;

  /** Arms the flush timer; `replace` moves an armed one (a retry's backoff instead of the linger). */
  function schedule(delayMs: number, replace = false): void {
    if (timer !== undefined && !replace) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void drain();
    }, delayMs);
    // Node: a pending report must not keep a finished process alive; shutdown() flushes it.
    (timer as { unref?: () => void }).unref?.();
  }

  function enqueue(event: WireUsageEvent): void {
    queue.push(event);
    if (queue.length > options.maxQueue) {
      queue.splice(0, queue.length - options.maxQueue);
      if (dropped++ === 0) options.logger.warn("Tollgate usage queue full; dropping the oldest reports");
    }
    if (queue.length >= options.batchSize && failures === 0) void drain();
    else schedule(options.flushIntervalMs);
  }

  /** Sends batches until the queue is empty or a send fails; one drain at a time. */
  function drain(): Promise<void> {
    if (sending) return sending;
    // Started on the next tick, so `sending` is set before its `finally` clears it. Run at once, a drain
    // of an empty queue (a linger timer firing after a full batch went out) would finish before the
    // assignment and leave a settled promise in `sending` for good: no report would go out again.
    sending = Promise.resolve().then(async () => {
      try {
        while (queue.length > 0) {
          const batch = queue.slice(0, options.batchSize);
          if (!(await sendBatch(batch))) {
            failures++;
            schedule(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 10)), true);
            return;
          }
          failures = 0;
          queue.splice(0, batch.length);
        }
      } finally {
        sending = undefined;
      }
    });
    return sending;
  }

  /** True when the batch is done with (accepted, or refused for good); false to retry it. */
  async function sendBatch(batch: WireUsageEvent[]): Promise<boolean> {
    const reply = await options.transport.send(
      "POST",
      `${options.ingestUrl}/v1/events`,
      { events: batch },
      "report usage",
      Math.max(1, Math.min(options.timeoutMs, flushDeadline - Date.now())),
    );
    if (!reply.ok) return false;
    if (reply.status === 202 || reply.status === 400) {
      const rejected = (reply.body as Partial<WireEventsReply> | null)?.rejected ?? [];
      if (rejected.length > 0) {
        options.logger.warn(`Tollgate rejected ${rejected.length} usage report(s); dropped`, {
          rejected: rejected.map((r) => ({ event_id: batch[r.index]?.event_id, errors: r.errors })),
        });
      } else if (reply.status === 400) {
        options.logger.warn("Tollgate refused a usage batch; dropped", { body: reply.body });
      }
      return true;
    }
    // 401/403/413: resending the same batch cannot succeed.
    options.logger.warn(`Tollgate answered ${reply.status} to a usage batch; dropped ${batch.length}`, {
      body: reply.body,
    });
    return true;
  }

  return {
    enqueue,
    /** Sends what is queued now; resolves when the queue is empty or at the deadline (never rejects). */
    async flush(deadlineMs = 10_000): Promise<void> {
      const deadline = Date.now() + deadlineMs;
      flushDeadline = deadline;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      while (queue.length > 0 && Date.now() < deadline) {
        if (sending) await sending;
        else await drain();
        if (queue.length > 0 && failures > 0) {
          if (timer !== undefined) {
            clearTimeout(timer);
            timer = undefined;
          }
          await new Promise((r) => setTimeout(r, Math.min(1_000, Math.max(0, deadline - Date.now()))));
        }
      }
      flushDeadline = Number.POSITIVE_INFINITY;
      if (queue.length > 0) schedule(options.flushIntervalMs);
    },
    stop(): number {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      return queue.length;
    },
    get pending(): number {
      return queue.length;
    },
  };
}

export type Reporter = ReturnType<typeof createReporter>;
