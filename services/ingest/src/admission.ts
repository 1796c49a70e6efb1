import type { ServerResponse } from "node:http";

/**
 * Backpressure: at most `maxInFlight` report requests are read, validated or
 * waiting on the bus at once; the next one is refused with 429 and
 * Retry-After before its body is read. Memory stays bounded by
 * maxInFlight × body limit whatever the load, and clients (OTLP exporters
 * included) back off and retry instead of piling up in a queue.
 */
export interface Admission {
  /**
   * Admits the request answered by `res` (released when it finishes or its
   * connection closes), or refuses it: false, with Retry-After and
   * Connection: close set. Both paths of a route enter it through their
   * gate (createGate's `admit`, after the key and the role).
   */
  enter(res: ServerResponse): boolean;
  readonly inFlight: number;
}

export function createAdmission(maxInFlight: number, retryAfterS = 1): Admission {
  let inFlight = 0;
  const enter = (res: ServerResponse): boolean => {
    if (inFlight >= maxInFlight) {
      res.setHeader("Retry-After", String(retryAfterS));
      // The body is not read: close the connection so it is not parsed either.
      res.setHeader("Connection", "close");
      return false;
    }
    inFlight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
    };
    res.once("finish", release);
    res.once("close", release);
    return true;
  };
  return {
    enter,
    get inFlight() {
      return inFlight;
    },
  };
}
