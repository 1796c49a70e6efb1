import type { BudgetStanding, CheckResult } from "./types.js";

/** A budget said no (deny) or not now (throttle): thrown by `guard`, which never ran the call. */
export class BudgetExceededError extends Error {
  override readonly name = "BudgetExceededError";
  readonly decision: CheckResult;
  constructor(decision: CheckResult) {
    super(decision.reason);
    this.decision = decision;
  }
  /** Seconds until the deciding budget has room again (throttle, and deny on a windowed budget). */
  get retryAfterS(): number | undefined {
    return this.decision.retryAfterS;
  }
  get budget(): BudgetStanding | undefined {
    return this.decision.decidingBudget;
  }
}

/**
 * Tollgate did not answer in time, could not be reached, or answered 5xx —
 * thrown only in fail-closed mode (fail-open answers `failedOpen: true` instead).
 */
export class TollgateUnavailableError extends Error {
  override readonly name = "TollgateUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Tollgate answered 4xx: the request or the key is wrong (a bad field, a
 * revoked key, a tag the key may not name). The caller's trouble, not
 * Tollgate's, so it is thrown in both modes: failing open would hide it.
 */
export class TollgateRequestError extends Error {
  override readonly name = "TollgateRequestError";
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown, what: string) {
    super(`${what}: Tollgate answered ${status} ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}
