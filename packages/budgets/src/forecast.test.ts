import { describe, expect, it } from "vitest";
import { forecast, MIN_RATE_SPAN_MS } from "./forecast";

describe("forecast (pure)", () => {
  const now = Date.parse("2026-11-24T10:00:00Z");
  const hourAgo = now - 3_600_000;

  it("is now + remaining ÷ rate, rounded to the second, with holds counted as used", () => {
    // 3,600 in the last hour = 1 a second; 1,000 − 300 used − 100 held = 600 left → 10 minutes.
    const f = forecast(1_000, { used: 300, reserved: 100, recent: { used: 3_600, firstAtMs: hourAgo } }, null, now);
    expect(f).toEqual({ projectedAtMs: now + 600_000, ratePerHour: 3_600, remaining: 600 });
    // 7 left at 3 per 301 s: 702.33… s, rounded to 702 s.
    const odd = forecast(10, { used: 3, reserved: 0, recent: { used: 3, firstAtMs: now - 301_000 } }, null, now);
    expect(odd?.projectedAtMs).toBe(now + 702_000);
  });

  it("is null without a rate, with too little history, at the limit, or at or after the reset", () => {
    const recent = { used: 3_600, firstAtMs: hourAgo };
    expect(forecast(1_000, { used: 0, reserved: 0 }, null, now)).toBeNull(); // rate limits: no slices
    expect(forecast(1_000, { used: 0, reserved: 0, recent: { used: 0, firstAtMs: null } }, null, now)).toBeNull();
    const young = { used: 3_600, firstAtMs: now - MIN_RATE_SPAN_MS + 1 };
    expect(forecast(1_000, { used: 0, reserved: 0, recent: young }, null, now)).toBeNull();
    // Usage stamped in the future (ingest allows an hour of skew) gives no negative span.
    expect(forecast(1_000, { used: 0, reserved: 0, recent: { used: 10, firstAtMs: now + 60_000 } }, null, now)).toBe(
      null,
    );
    expect(forecast(1_000, { used: 900, reserved: 100, recent }, null, now)).toBeNull();
    // 600 s left: a reset (or a rolling window's oldest slice leaving) at +600 s comes first.
    expect(forecast(1_000, { used: 400, reserved: 0, recent }, now + 600_000, now)).toBeNull();
    expect(forecast(1_000, { used: 400, reserved: 0, recent }, now + 600_001, now)?.projectedAtMs).toBe(now + 600_000);
  });
});
