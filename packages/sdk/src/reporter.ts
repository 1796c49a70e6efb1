import { JsonText, type Transport } from "./transport.js";
import type { Logger, WireEventsReply, WireUsageEvent } from "./types.js";

export interface ReporterOptions {
  ingestUrl: string;
  transport: Transport;
  logger: Logger;
  /** Events per POST /v1/events (the server takes at most INGEST_MAX_BATCH, default 1,000). */
  batchSize: number;
  /** Bytes of events per POST /v1/events (the server's INGEST_BODY_LIMIT_BYTES is 1 MiB by default). */
  maxBatchBytes: number;
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
 * log line. A batch the server finds too large (413) is sent in halves.
 *
 * Events are kept as their JSON text, made when queued: a batch's body is
 * their join, and a queue of flat strings leaves the agent's heap (and its
 * garbage collector) less to do than one of nested objects.
 */
export function createReporter(options: ReporterOptions) {
  const queue: string[] = [];
  /** Each queued event's bytes in UTF-8, and their sum. */
  const sizes: number[] = [];
  let queuedBytes = 0;
  /** Lowered when the server answers 413: its body limit is below maxBatchBytes. */
  let batchBytes = options.maxBatchBytes;
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
      void drain(true);
    }, delayMs);
    // Node: a pending report must not keep a finished process alive; shutdown() flushes it.
    (timer as { unref?: () => void }).unref?.();
  }

  /** Drops the queue's first `count` events (sent, or the oldest when the queue is full). */
  function take(count: number): void {
    queue.splice(0, count);
    for (const bytes of sizes.splice(0, count)) queuedBytes -= bytes;
  }

  const full = () => queue.length >= options.batchSize || queuedBytes >= batchBytes;

  function enqueue(event: WireUsageEvent): void {
    const json = JSON.stringify(event);
    const bytes = utf8Length(json) + 1;
    queue.push(json);
    sizes.push(bytes);
    queuedBytes += bytes;
    if (queue.length > options.maxQueue) {
      take(queue.length - options.maxQueue);
      if (dropped++ === 0) options.logger.warn("Tollgate usage queue full; dropping the oldest reports");
    }
    if (full() && failures === 0) void drain(false);
    else schedule(options.flushIntervalMs);
  }

  /**
   * Sends full batches, or with `all` everything queued, until a send fails; one drain at a time. A
   * part batch waits for its linger: sent as soon as a batch went out, the reports that arrived during
   * that round trip would go as a small batch of their own each time — and each request costs the
   * server about the same whether it holds 10 events or 500 (one insert, in embedded mode).
   */
  function drain(all: boolean): Promise<void> {
    if (sending) return sending;
    // Started on the next tick, so `sending` is set before its `finally` clears it. Run at once, a drain
    // of an empty queue (a linger timer firing after a full batch went out) would finish before the
    // assignment and leave a settled promise in `sending` for good: no report would go out again.
    sending = Promise.resolve().then(async () => {
      try {
        while (queue.length > 0 && (all || full())) {
          const count = batchLength();
          const batch = queue.slice(0, count);
          const outcome = await sendBatch(batch);
          if (outcome === "too large") {
            batchBytes = Math.max(1, Math.floor(sizes.slice(0, count).reduce((sum, b) => sum + b, 0) / 2));
            continue;
          }
          if (outcome === "retry") {
            failures++;
            schedule(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 10)), true);
            return;
          }
          failures = 0;
          take(count);
        }
        // The linger now runs for what is left: reports that came during the last round trip.
        if (queue.length > 0) schedule(options.flushIntervalMs, true);
        else {
          clearTimeout(timer);
          timer = undefined;
        }
      } finally {
        sending = undefined;
      }
    });
    return sending;
  }

  /** Events in the next batch: at most batchSize and batchBytes, at least one. */
  function batchLength(): number {
    let bytes = 0;
    let end = 0;
    while (end < queue.length && end < options.batchSize) {
      bytes += sizes[end] as number;
      if (end > 0 && bytes > batchBytes) break;
      end++;
    }
    return end;
  }

  /** "done": accepted, or refused for good (dropped with a log line); "retry" later; "too large": split it. */
  async function sendBatch(batch: string[]): Promise<"done" | "retry" | "too large"> {
    const reply = await options.transport.send(
      "POST",
      `${options.ingestUrl}/v1/events`,
      new JsonText(`{"events":[${batch.join(",")}]}`),
      "report usage",
      Math.max(1, Math.min(options.timeoutMs, flushDeadline - Date.now())),
    );
    if (!reply.ok) return "retry";
    if (reply.status === 202 || reply.status === 400) {
      const rejected = (reply.body as Partial<WireEventsReply> | null)?.rejected ?? [];
      if (rejected.length > 0) {
        options.logger.warn(`Tollgate rejected ${rejected.length} usage report(s); dropped`, {
          rejected: rejected.map((r) => ({ event_id: eventIdOf(batch[r.index]), errors: r.errors })),
        });
      } else if (reply.status === 400) {
        options.logger.warn("Tollgate refused a usage batch; dropped", { body: reply.body });
      }
      return "done";
    }
    if (reply.status === 413 && batch.length > 1) return "too large";
    // 401/403, or one event larger than the server takes: resending it cannot succeed.
    options.logger.warn(`Tollgate answered ${reply.status} to a usage batch; dropped ${batch.length}`, {
      body: reply.body,
    });
    return "done";
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
        else await drain(true);
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

/** Bytes of `text` in UTF-8, without encoding it (reports are mostly ASCII). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else {
      bytes += 2;
      if (code >= 0xd800 && code <= 0xdbff) i++; // a surrogate pair: 4 bytes for its 2 units
    }
  }
  return bytes;
}

function eventIdOf(json: string | undefined): string | undefined {
  if (json === undefined) return undefined;
  return (JSON.parse(json) as WireUsageEvent).event_id;
}
