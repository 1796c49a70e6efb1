import { sampleUsageEvent as usageEvent } from "@tollgate/events";
import { describe, expect, it } from "vitest";
import { createKeyBuilder } from "./keys";
import { createMemoryCounterStore } from "./memory-store";

describe("memory counter store", () => {
  it("adds each event once to every scope and window", async () => {
    let now = Date.parse("2026-11-22T12:00:00Z");
    const store = createMemoryCounterStore(createKeyBuilder("t"), () => now);
    expect(await store.apply(usageEvent())).toBe(true);
    expect(await store.apply(usageEvent())).toBe(false);
    expect(await store.apply(usageEvent({ event_id: "e2", user_id: "u2" }))).toBe(true);
    // Yesterday's event counts in the month but not today.
    expect(await store.apply(usageEvent({ event_id: "e3", timestamp_ms: Date.parse("2026-11-21T10:00:00Z") }))).toBe(
      true,
    );

    const totals = await store.totals({ org: "acme", user: "u1", project: "p1" }, now);
    expect(totals.user?.day).toEqual({
      tokens: 140,
      input_tokens: 100,
      output_tokens: 40,
      cost_micro_usd: 650,
      requests: 1,
    });
    expect(totals.user?.month.requests).toBe(2);
    expect(totals.project?.day.tokens).toBe(280);
    expect(totals.agent).toBeUndefined();
    // Another tenant sees nothing.
    expect((await store.totals({ org: "other", user: "u1" }, now)).user?.day.tokens).toBe(0);
    // Next day the day window starts empty; no reset job involved.
    now = Date.parse("2026-11-23T00:00:00Z");
    expect((await store.totals({ org: "acme", user: "u1" }, now)).user?.day.tokens).toBe(0);
    expect((await store.totals({ org: "acme", user: "u1" }, now)).user?.month.tokens).toBe(280);
  });
});
