import {
  beginGuarded,
  type GuardContext,
  type GuardDeps,
  type GuardedCall,
  type GuardRequest,
  runGuarded,
} from "./guard.js";
import { fromWireCheck, fromWireUsage, mergeSubject, usageQueryString, wireCheck, wireEvent } from "./map.js";
import { createReporter } from "./reporter.js";
import { createTransport, type Reply } from "./transport.js";
import type {
  CheckRequest,
  CheckResult,
  Logger,
  Subject,
  UsageQuery,
  UsageReport,
  UsageResult,
  WireCheckResult,
  WireUsageResult,
} from "./types.js";

export interface TollgateOptions {
  /** Enforcement API base URL (POST /v1/check, GET /v1/usage, DELETE /v1/reservations). */
  checkUrl: string;
  /** Ingest base URL (POST /v1/events). */
  ingestUrl: string;
  apiKey: string;
  /** Identities every call speaks for; a call's own win. */
  subject?: Subject;
  /** Deadline of each check, reserve, release and usage call (default 1,000 ms). */
  timeoutMs?: number;
  /**
   * When Tollgate does not answer in time, cannot be reached or answers 5xx:
   * "open" (default) allows and says so (`failedOpen: true`), "closed" throws
   * TollgateUnavailableError.
   */
  failMode?: "open" | "closed";
  /** Where Tollgate's own trouble is said (once per outage). Default: console. */
  logger?: Logger;
  /** Usage reports per request (default 500, at most the server's INGEST_MAX_BATCH). */
  batchSize?: number;
  /** Bytes of usage reports per request (default 512 KiB, below the server's INGEST_BODY_LIMIT_BYTES). */
  maxBatchBytes?: number;
  /** How long a usage report may wait for its batch (default 1,000 ms). */
  flushIntervalMs?: number;
  /** Usage reports kept while Tollgate is unreachable (default 10,000). */
  maxQueue?: number;
  /** Deadline of one usage batch (default 10,000 ms: ingest may take its publish timeout, 5 s). */
  reportTimeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface Tollgate {
  /** May this subject spend about this much now? Holds nothing. */
  check(request: CheckRequest): Promise<CheckResult>;
  /** The same decision, holding the estimate against every matching budget (see `reservationId`). */
  reserve(request: CheckRequest): Promise<CheckResult>;
  /** Queues a usage report (settles `reservationId` when given); sent in batches in the background. */
  report(usage: UsageReport): void;
  /** Frees a reservation that will not be used. False when it was not held (settled, expired, unknown). */
  release(reservationId: string): Promise<boolean>;
  /** Budget standings and running totals of the subject (the client's subject under this one). */
  usage(subject?: UsageQuery): Promise<UsageResult>;
  /** reserve → call → report or release; throws BudgetExceededError on deny and throttle. */
  guard<T>(request: GuardRequest, call: (ctx: GuardContext) => T | Promise<T>): Promise<T>;
  /** guard's first half, for adapters that run the call themselves: reserve, then `settle` once it is over. */
  begin(request: GuardRequest): Promise<GuardedCall>;
  /** Sends the queued usage reports now. */
  flush(): Promise<void>;
  /** Flushes (within `timeoutMs`, default 10 s) and stops; reports after it are dropped. */
  shutdown(options?: { timeoutMs?: number }): Promise<void>;
}

const trimSlash = (url: string) => url.replace(/\/+$/, "");

export function createTollgate(options: TollgateOptions): Tollgate {
  const checkUrl = trimSlash(options.checkUrl);
  const ingestUrl = trimSlash(options.ingestUrl);
  const subject = options.subject ?? {};
  const failMode = options.failMode ?? "open";
  const logger = options.logger ?? console;
  const transport = createTransport({
    apiKey: options.apiKey,
    timeoutMs: options.timeoutMs ?? 1_000,
    logger,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
  });
  const reporter = createReporter({
    ingestUrl,
    transport,
    logger,
    batchSize: options.batchSize ?? 500,
    maxBatchBytes: options.maxBatchBytes ?? 512 * 1024,
    flushIntervalMs: options.flushIntervalMs ?? 1_000,
    maxQueue: options.maxQueue ?? 10_000,
    timeoutMs: options.reportTimeoutMs ?? 10_000,
  });
  let stopped = false;

  /** Fail-closed throws Tollgate's trouble; fail-open answers `fallback` (logged once by the transport). */
  function unavailable<T>(reply: Reply & { ok: false }, fallback: () => T): T {
    if (failMode === "closed") throw reply.error;
    return fallback();
  }

  async function decide(request: CheckRequest, reserve: boolean): Promise<CheckResult> {
    const what = reserve ? "reserve" : "check";
    const reply = await transport.send("POST", `${checkUrl}/v1/check`, wireCheck(subject, request, reserve), what);
    if (!reply.ok) {
      return unavailable(reply, () => ({
        decision: "allow",
        reason: `Tollgate unavailable (${reply.error.message}); failing open`,
        model: request.model ?? null,
        maxOutputTokens: request.maxOutputTokens ?? 0,
        costEstimateMicroUsd: null,
        budgets: [],
        failedOpen: true,
      }));
    }
    return fromWireCheck(transport.expectOk(reply, what) as WireCheckResult);
  }

  async function release(reservationId: string): Promise<boolean> {
    const reply = await transport.send(
      "DELETE",
      `${checkUrl}/v1/reservations/${encodeURIComponent(reservationId)}`,
      undefined,
      "release",
    );
    // Fail-open: the hold ends by itself at its TTL (charged per the budget's policy).
    if (!reply.ok) return unavailable(reply, () => false);
    if (reply.status === 404) return false;
    transport.expectOk(reply, "release");
    return true;
  }

  const guardDeps: GuardDeps = {
    reserve: (request) => decide(request, true),
    report: (usage) => tollgate.report(usage),
    release,
    logWarn: (message, details) => logger.warn(message, details),
  };

  const tollgate: Tollgate = {
    check: (request) => decide(request, false),
    reserve: (request) => decide(request, true),

    report(usage) {
      if (stopped) {
        logger.warn("Tollgate client is shut down; usage report dropped", { model: usage.model });
        return;
      }
      reporter.enqueue(wireEvent(subject, usage, usage.eventId ?? crypto.randomUUID()));
    },

    release,

    async usage(query = {}) {
      const merged = { ...mergeSubject(subject, query), model: query.model };
      const reply = await transport.send("GET", `${checkUrl}/v1/usage?${usageQueryString(merged)}`, undefined, "usage");
      if (!reply.ok) return unavailable(reply, () => ({ budgets: [], totals: {}, failedOpen: true as const }));
      return fromWireUsage(transport.expectOk(reply, "usage") as WireUsageResult);
    },

    guard: (request, call) => runGuarded(guardDeps, request, call),
    begin: (request) => beginGuarded(guardDeps, request),

    flush: () => reporter.flush(),

    async shutdown(shutdownOptions = {}) {
      stopped = true;
      await reporter.flush(shutdownOptions.timeoutMs ?? 10_000);
      const left = reporter.stop();
      if (left > 0) logger.warn(`Tollgate client shut down with ${left} usage report(s) unsent`);
    },
  };
  return tollgate;
}
