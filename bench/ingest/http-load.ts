import autocannon from "autocannon";
import { BATCH } from "./bodies";
import type { Row } from "./table";

export interface HttpWorkload {
  name: string;
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
  /** The status of an accepted report (202 for JSON, 200 for OTLP). */
  okStatus: number;
  /** From one accepted reply: how many of the request's events ingest took. */
  acceptedIn(reply: Response): Promise<number>;
  /** A 404 means "not built yet" for this route: print this and carry on instead of failing. */
  whenMissing?: string;
}

export interface HttpLoadOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

/**
 * One request first, so a route that is missing or refuses the body shows as
 * such instead of as a fast stream of errors; then a warm-up and the
 * measurement with autocannon. Events/s counts only accepted replies.
 */
export async function httpRun(w: HttpWorkload, options: HttpLoadOptions): Promise<{ row: Row; failed: boolean }> {
  const probe = await fetch(w.url, { method: "POST", headers: w.headers, body: w.body });
  if (probe.status === 404 && w.whenMissing) {
    await probe.body?.cancel();
    return { row: blank(w.name, w.whenMissing), failed: false };
  }
  if (probe.status !== w.okStatus) {
    const text = (await probe.text()).slice(0, 160);
    return { row: blank(w.name, `probe answered ${probe.status}, expected ${w.okStatus}: ${text}`), failed: true };
  }
  const accepted = await w.acceptedIn(probe);

  const load = (seconds: number) =>
    autocannon({
      url: w.url,
      method: "POST",
      headers: w.headers,
      body: w.body,
      connections: options.connections,
      pipelining: 1,
      duration: seconds,
    });
  await load(options.warmupSeconds); // keep-alive connections, JIT, ingest's producer batches
  const result = await load(options.seconds);

  const ok = result.statusCodeStats?.[`${w.okStatus}`]?.count ?? 0;
  const notes = [`${ok} × ${w.okStatus}`];
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    if (status !== `${w.okStatus}`) notes.push(`${stats.count ?? 0} × ${status}`);
  }
  if (result.non2xx > 0) notes.push(`non-2xx: ${result.non2xx}`);
  if (result.errors > 0) notes.push(`errors: ${result.errors} (timeouts ${result.timeouts})`);
  if (accepted !== BATCH) notes.push(`only ${accepted}/${BATCH} events accepted per request`);
  return {
    row: {
      name: w.name,
      eventsPerSecond: (ok * accepted) / result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      note: notes.join(", "),
    },
    failed: ok === 0,
  };
}

function blank(name: string, reason: string): Row {
  return { name, eventsPerSecond: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN, unavailable: reason };
}
