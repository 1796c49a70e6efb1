import { afterEach, describe, expect, it, vi } from "vitest";
import { createReporter } from "./reporter";
import type { Transport } from "./transport";
import type { WireUsageEvent } from "./types";

/** A transport that accepts every batch at once and keeps what it was sent. */
function acceptingTransport() {
  const sent: string[] = [];
  const transport = {
    async send(_method: string, _url: string, body: unknown) {
      const events = (body as { events: WireUsageEvent[] }).events;
      sent.push(...events.map((e) => e.event_id as string));
      return { ok: true as const, status: 202, body: { accepted: events.length, rejected: [] } };
    },
  } as unknown as Transport;
  return { transport, sent };
}

const event = (id: string) => ({ event_id: id }) as unknown as WireUsageEvent;

describe("the usage reporter", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps sending after its linger timer fires on a queue a full batch already emptied", async () => {
    vi.useFakeTimers();
    const { transport, sent } = acceptingTransport();
    const warnings: string[] = [];
    const reporter = createReporter({
      ingestUrl: "http://tollgate.test",
      transport,
      logger: { warn: (message) => warnings.push(message) },
      batchSize: 10,
      flushIntervalMs: 1_000,
      maxQueue: 1_000,
      timeoutMs: 1_000,
    });
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
});
