import { TollgateRequestError, TollgateUnavailableError } from "./errors.js";
import type { Logger } from "./types.js";

export interface TransportOptions {
  apiKey: string;
  timeoutMs: number;
  logger: Logger;
  fetch: typeof fetch;
}

/** A request body already serialized, sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

export type Reply = { ok: true; status: number; body: unknown } | { ok: false; error: TollgateUnavailableError };

/**
 * One HTTP exchange with Tollgate, bounded by a timeout, and the outage
 * state the whole client shares. "Unavailable" (no answer in time, no
 * connection, 5xx, 429) is Tollgate's trouble and is returned, never thrown,
 * so each caller applies its fail mode; 4xx is the caller's trouble and is
 * thrown (TollgateRequestError). The outage is logged once when it starts
 * and once when Tollgate answers again — not per call, since an agent fleet
 * makes thousands of calls during one outage.
 */
export function createTransport(options: TransportOptions) {
  let down = false;

  function markDown(error: TollgateUnavailableError): void {
    if (down) return;
    down = true;
    options.logger.warn("Tollgate unavailable; failing per failMode until it answers again", {
      error: error.message,
    });
  }
  function markUp(): void {
    if (!down) return;
    down = false;
    (options.logger.info ?? options.logger.warn).call(options.logger, "Tollgate answers again");
  }

  async function send(
    method: string,
    url: string,
    body: unknown,
    what: string,
    timeoutMs = options.timeoutMs,
  ): Promise<Reply> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let status: number;
    let parsed: unknown;
    let retryAfter: string | null = null;
    // The whole exchange, body included: a server that stalls mid-answer must not hang the agent.
    // A timer cleared when the answer is in, not AbortSignal.timeout: its timer cannot be cleared, so
    // each call's fired a second later and built a TimeoutError for a request long done (~10 % of a
    // guarded call's CPU in bench/sdk's profile).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException("timed out", "TimeoutError")), timeoutMs);
    try {
      const res = await options.fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : body instanceof JsonText ? body.text : JSON.stringify(body),
        signal: deadline.signal,
        // Tollgate's API never redirects (a redirect is a wrong URL: an error here). With redirects
        // off and no window, fetch sends the request as is instead of cloning it first (which copies
        // the body through a second stream on every call).
        redirect: "error",
        window: null,
      });
      status = res.status;
      retryAfter = res.headers.get("retry-after");
      const text = await res.text();
      try {
        parsed = text.length > 0 ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
    } catch (err) {
      const timedOut = deadline.signal.aborted;
      const error = new TollgateUnavailableError(
        timedOut ? `${what}: no answer within ${timeoutMs} ms` : `${what}: ${describe(err)}`,
        { cause: err },
      );
      markDown(error);
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
    if (status >= 500 || status === 429) {
      const error = new TollgateUnavailableError(
        `${what}: Tollgate answered ${status}${retryAfter ? ` (retry after ${retryAfter} s)` : ""}`,
      );
      markDown(error);
      return { ok: false, error };
    }
    markUp();
    return { ok: true, status, body: parsed };
  }

  return {
    send,
    /** A 2xx body, or a TollgateRequestError for 4xx (404 included: callers that expect it check first). */
    expectOk(reply: Reply & { ok: true }, what: string): unknown {
      if (reply.status >= 200 && reply.status < 300) return reply.body;
      throw new TollgateRequestError(reply.status, reply.body, what);
    },
    /** Whether an outage is in progress (for tests and health pages). */
    get down() {
      return down;
    },
  };
}

export type Transport = ReturnType<typeof createTransport>;

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici hides the reason (ECONNREFUSED, …) in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
}
