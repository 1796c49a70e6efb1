import { BudgetExceededError } from "./errors.js";
import { usageOf } from "./map.js";
import type { CheckRequest, CheckResult, UsageCounts, UsageReport } from "./types.js";

export interface GuardRequest extends CheckRequest {
  model: string;
  /** The caller's own cancellation: aborts the call's `signal` too. */
  signal?: AbortSignal;
}

export interface GuardContext {
  /** The model to call: the requested one, or the cheaper one a degrade budget maps it to. */
  model: string;
  /** The output cap to pass to the provider (undefined: none asked, none imposed). */
  maxOutputTokens: number | undefined;
  /** Aborted when the caller's signal aborts: pass it to the provider. */
  signal: AbortSignal;
  /** The decision the call runs under. */
  decision: CheckResult;
  /**
   * What the call used so far (the last value wins: streamed usage is
   * cumulative). Needed when the usage is not on the result or its chunks,
   * and what a call that fails or is aborted halfway gets charged. `model`:
   * the model that really ran, when it is not `model` above.
   */
  setUsage(usage: UsageCounts & { model?: string }): void;
}

export interface GuardDeps {
  reserve(request: CheckRequest): Promise<CheckResult>;
  report(usage: UsageReport): void;
  release(reservationId: string): Promise<unknown>;
  logWarn(message: string, details?: Record<string, unknown>): void;
}

/** A reserved call, for adapters that drive the call themselves: run it with `model`, then `settle` once. */
export interface GuardedCall extends GuardContext {
  /** Reports what `setUsage` recorded (against the reservation), else releases it. Idempotent. */
  settle(status: "ok" | "error"): void;
}

/**
 * reserve → (the caller runs the call) → settle. Settling means reporting
 * the actual usage against the reservation (which replaces the hold), or,
 * when nothing is known to have been used, releasing it. Throws
 * BudgetExceededError on deny and throttle, and the caller's abort reason
 * when it was cancelled while Tollgate decided (then nothing is held).
 */
export async function beginGuarded(deps: GuardDeps, request: GuardRequest): Promise<GuardedCall> {
  const { signal: callerSignal, ...checkRequest } = request;
  const decision = await deps.reserve(checkRequest);
  if (decision.decision === "deny" || decision.decision === "throttle") throw new BudgetExceededError(decision);
  if (callerSignal?.aborted) {
    if (decision.reservationId) await deps.release(decision.reservationId).catch(() => false);
    throw callerSignal.reason;
  }
  // Made when the call first reads `signal`, not before: an AbortController is a good part of a guarded
  // call's own cost (bench/sdk), and many calls never pass it on.
  let controller: AbortController | undefined;
  const onAbort = () => controller?.abort(callerSignal?.reason);
  const signal = (): AbortSignal => {
    if (!controller) {
      controller = new AbortController();
      if (callerSignal?.aborted) controller.abort(callerSignal.reason);
      else callerSignal?.addEventListener("abort", onAbort, { once: true });
    }
    return controller.signal;
  };

  const model = decision.model ?? request.model;
  let used: (UsageCounts & { model?: string }) | undefined;
  let settled = false;
  return {
    model,
    maxOutputTokens: decision.maxOutputTokens > 0 ? decision.maxOutputTokens : request.maxOutputTokens,
    get signal() {
      return signal();
    },
    decision,
    setUsage: (usage) => {
      used = usage;
    },
    settle(status) {
      if (settled) return;
      settled = true;
      callerSignal?.removeEventListener("abort", onAbort);
      if (used) {
        // Reported even without a reservation (no budget applied, or failed open): no call is counted as free.
        deps.report({
          ...checkRequest,
          ...used,
          model: used.model ?? model,
          status,
          reservationId: decision.reservationId,
        });
      } else if (decision.reservationId) {
        const id = decision.reservationId;
        deps.release(id).catch((err: unknown) => deps.logWarn("Tollgate release failed", { reservationId: id, err }));
      }
    },
  };
}

/**
 * beginGuarded, the call, settle. A result that is an async iterable (a
 * stream) is settled when it ends, is cancelled (`return()`, a `break` out
 * of `for await`) or throws — never before, since its usage arrives with
 * its last chunks.
 */
export async function runGuarded<T>(
  deps: GuardDeps,
  request: GuardRequest,
  call: (ctx: GuardContext) => T | Promise<T>,
): Promise<T> {
  const guarded = await beginGuarded(deps, request);
  const { settle } = guarded;
  // Not a rest spread: that would read `signal` and make its controller for every call.
  const ctx: GuardContext = {
    model: guarded.model,
    maxOutputTokens: guarded.maxOutputTokens,
    get signal() {
      return guarded.signal;
    },
    decision: guarded.decision,
    setUsage: guarded.setUsage,
  };
  let result: T;
  try {
    result = await call(ctx);
  } catch (err) {
    settle("error");
    throw err;
  }
  if (isAsyncIterable(result)) {
    return wrapStream(
      result,
      (chunk) => {
        const found = usageOf((chunk as { usage?: unknown } | null)?.usage);
        if (found) ctx.setUsage(found);
      },
      settle,
    ) as T;
  }
  const found = usageOf((result as { usage?: unknown } | null)?.usage);
  if (found) ctx.setUsage(found);
  settle("ok");
  return result;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  );
}

/**
 * The same stream, settled once when iteration ends however it ends. An
 * async generator is replaced by one (it is its own iterator); any other
 * async iterable (a provider SDK's Stream class) keeps its own methods behind
 * a proxy that only swaps its iterator.
 */
function wrapStream(
  stream: AsyncIterable<unknown>,
  onChunk: (chunk: unknown) => void,
  settle: (status: "ok" | "error") => void,
): AsyncIterable<unknown> {
  async function* settled(): AsyncGenerator<unknown> {
    let completed = false;
    try {
      for await (const chunk of stream) {
        onChunk(chunk);
        yield chunk;
      }
      completed = true;
    } finally {
      // Reached on end, on throw, and on return() (the consumer stopped early: its
      // `for await` closed us, and we closed the inner stream, which stops the call).
      // A stream cut short reports its partial usage with status "error".
      settle(completed ? "ok" : "error");
    }
  }
  const isGenerator = typeof (stream as { next?: unknown }).next === "function";
  if (isGenerator) return settled();
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) return () => settled();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
