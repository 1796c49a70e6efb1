import { afterEach, describe, expect, it, vi } from "vitest";
import { createReporter, type ReporterOptions } from "./reporter";
import type { JsonText, Transport } from "./transport";
import type { WireUsageEvent } from "./types";

/**
 * A transport that keeps what it was sent: each batch's body bytes and event ids. It answers 413 to a
 * body over `limitBytes`, as ingest does over INGEST_BODY_LIMIT_BYTES, else accepts the batch.
 */
function acceptingTransport(limitBytes = Number.POSITIVE_INFINITY) {
  const sent: string[] = [];
  const bodies: number[] = [];
  const transport = {
    async send(_method: string, _url: string, body: unknown) {
      const text = (body as JsonText).text;
      const bytes = new TextEncoder().encode(text).length;
      if (bytes > limitBytes) return { ok: true as const, status: 413, body: { error: "payload too large" } };
      bodies.push(bytes);
      const events = (JSON.parse(text) as { events: WireUsageEvent[] }).events;
      sent.push(...events.map((e) => e.event_id as string));
      return { ok: true as const, status: 202, body: { accepted: events.length, rejected: [] } };
    },
  } as unknown as Transport;
  return { transport, sent, bodies };
}

const event = (id: string, note = "") => ({ event_id: id, feature: note }) as unknown as WireUsageEvent;

function reporterOn(transport: Transport, warnings: string[], options: Partial<ReporterOptions> = {}) {
  return createReporter({
    ingestUrl: "http://tollgate.test",
    transport,
    logger: { warn: (message) => warnings.push(message) },
    batchSize: 10,
    maxBatchBytes: 1_000_000,
    flushIntervalMs: 1_000,
    maxQueue: 1_000,
    timeoutMs: 1_000,
    ...options,
  });
}

describe("the usage reporter", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps sending after its linger timer fires on a queue a full batch already emptied", async () => {
    vi.useFakeTimers();
    const { transport, sent } = acceptingTransport();
    const warnings: string[] = [];
    const reporter = reporterOn(transport, warnings);
    // The first report arms the linger timer; the tenth fills a batch, which goes out at once.
    for (let i = 0; i < 10; i++) reporter.enqueue(event(`a${i}`));
    await vi.waitFor(() => expect(sent).toHaveLength(10));
    // The timer fires with nothing queued.
    await vi.advanceTimersByTimeAsync(1_000);
    // Later reports still go out: by a full batch, and by the timer.
    for (let i = 0; i < 10; i++) reporter.enqueue(event(`b${i}`));
    await vi.waitFor(() => expect(sent).toHaveLength(20));
    reporter.enqueue(event("c0"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toContain("c0");
    expect(reporter.pending).toBe(0);
    expect(warnings).toEqual([]);
  });

  it("keeps each batch's body under maxBatchBytes, counting multi-byte characters as UTF-8 sends them", async () => {
    const { transport, sent, bodies } = acceptingTransport();
    const warnings: string[] = [];
    const reporter = reporterOn(transport, warnings, { batchSize: 100, maxBatchBytes: 2_000 });
    // ~300 bytes each in UTF-8 but ~120 UTF-16 units: a limit counted in units would let ~16 into a batch.
    const ids = Array.from({ length: 20 }, (_, i) => `e${i}`);
    for (const id of ids) reporter.enqueue(event(id, "€😀".repeat(50)));
    await reporter.flush();
    expect(sent).toEqual(ids);
    expect(bodies.length).toBeGreaterThan(2);
    for (const bytes of bodies) expect(bytes).toBeLessThanOrEqual(2_000 + '{"events":[]}'.length);
    expect(warnings).toEqual([]);
  });

  it("sends a batch the server finds too large (413) in halves, losing none", async () => {
    const { transport, sent, bodies } = acceptingTransport(3_000);
    const warnings: string[] = [];
    const reporter = reporterOn(transport, warnings, { batchSize: 100, maxBatchBytes: 1_000_000 });
    const ids = Array.from({ length: 60 }, (_, i) => `e${i}`);
    for (const id of ids) reporter.enqueue(event(id, "x".repeat(200)));
    await reporter.flush();
    expect(sent).toEqual(ids);
    expect(Math.max(...bodies)).toBeLessThanOrEqual(3_000);
    expect(warnings).toEqual([]);
  });

  it("drops, with a log line, one event larger than the server takes, and sends the rest", async () => {
    const { transport, sent } = acceptingTransport(1_000);
    const warnings: string[] = [];
    const reporter = reporterOn(transport, warnings, { batchSize: 100 });
    reporter.enqueue(event("small-1"));
    reporter.enqueue(event("huge", "x".repeat(5_000)));
    reporter.enqueue(event("small-2"));
    await reporter.flush();
    expect(sent).toEqual(["small-1", "small-2"]);
    expect(warnings).toEqual(["Tollgate answered 413 to a usage batch; dropped 1"]);
    expect(reporter.pending).toBe(0);
  });

  it("sends the reports that came during a batch's round trip with the next full batch or at the linger, not at once", async () => {
    vi.useFakeTimers();
    const batches: number[] = [];
    let answer: () => void = () => {};
    const transport = {
      send(_method: string, _url: string, body: unknown) {
        batches.push((JSON.parse((body as JsonText).text) as { events: unknown[] }).events.length);
        return new Promise((resolve) => {
          answer = () => resolve({ ok: true, status: 202, body: { accepted: 0, rejected: [] } });
        });
      },
    } as unknown as Transport;
    const reporter = reporterOn(transport, [], { batchSize: 10, flushIntervalMs: 1_000 });
    for (let i = 0; i < 10; i++) reporter.enqueue(event(`a${i}`));
    await vi.waitFor(() => expect(batches).toEqual([10]));
    // Three arrive while the full batch is on its way; its answer comes.
    for (let i = 0; i < 3; i++) reporter.enqueue(event(`b${i}`));
    answer();
    await vi.advanceTimersByTimeAsync(999);
    expect(batches).toEqual([10]);
    // The linger armed by the first report ends: the three go out.
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([10, 3]);
    answer();
    // A full batch still goes at once.
    for (let i = 0; i < 10; i++) reporter.enqueue(event(`c${i}`));
    await vi.waitFor(() => expect(batches).toEqual([10, 3, 10]));
    answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(reporter.pending).toBe(0);
  });
});
