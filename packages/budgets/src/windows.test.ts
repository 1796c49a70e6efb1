import { describe, expect, it } from "vitest";
import { bucketAt, oldestOpenWindow, windowPosition } from "./windows";

const at = (iso: string) => Date.parse(iso);

describe("calendar windows in a time zone", () => {
  const berlinDay = { type: "calendar", unit: "day", timezone: "Europe/Berlin" } as const;

  it("rolls over at local midnight, not UTC midnight", () => {
    // 23:30 UTC on 22 Nov is 00:30 on 23 Nov in Berlin (UTC+1).
    expect(bucketAt(berlinDay, at("2026-11-22T22:59:59.999Z"))).toBe("d20261122");
    expect(bucketAt(berlinDay, at("2026-11-22T23:00:00.000Z"))).toBe("d20261123");
    expect(windowPosition(berlinDay, at("2026-11-22T12:00:00Z")).resetsAtMs).toBe(at("2026-11-22T23:00:00Z"));
  });

  it("has 23-hour and 25-hour days at the DST changes", () => {
    // Spring forward: 29 Mar 2026, 02:00 → 03:00 local. The day runs 00:00 CET (23:00Z) to 00:00 CEST (22:00Z).
    const spring = windowPosition(berlinDay, at("2026-03-29T12:00:00Z"));
    expect(spring.buckets).toEqual(["d20260329"]);
    expect(spring.resetsAtMs).toBe(at("2026-03-29T22:00:00Z"));
    expect(bucketAt(berlinDay, at("2026-03-28T22:59:59Z"))).toBe("d20260328");
    expect(bucketAt(berlinDay, at("2026-03-28T23:00:00Z"))).toBe("d20260329");
    // Fall back: 25 Oct 2026, 03:00 → 02:00 local; the day is 25 hours long.
    const fall = windowPosition(berlinDay, at("2026-10-25T12:00:00Z"));
    expect(fall.resetsAtMs).toBe(at("2026-10-25T23:00:00Z"));
    expect(bucketAt(berlinDay, at("2026-10-24T21:59:59Z"))).toBe("d20261024");
    expect(bucketAt(berlinDay, at("2026-10-24T22:00:00Z"))).toBe("d20261025");
    expect(bucketAt(berlinDay, at("2026-10-25T22:59:59Z"))).toBe("d20261025");
  });

  it("starts weeks on Monday and months on the 1st, locally", () => {
    const week = { type: "calendar", unit: "week", timezone: "America/New_York" } as const;
    // Sunday 29 Nov 2026 23:00 in New York is Monday 04:00Z: still the week of Monday 23 Nov there.
    expect(bucketAt(week, at("2026-11-30T04:00:00Z"))).toBe("w202648");
    expect(bucketAt(week, at("2026-11-30T05:00:00Z"))).toBe("w202649");
    expect(windowPosition(week, at("2026-11-25T12:00:00Z")).resetsAtMs).toBe(at("2026-11-30T05:00:00Z"));

    const month = { type: "calendar", unit: "month", timezone: "Asia/Tokyo" } as const;
    expect(bucketAt(month, at("2026-11-30T14:59:59Z"))).toBe("m202611");
    expect(bucketAt(month, at("2026-11-30T15:00:00Z"))).toBe("m202612");
    expect(windowPosition(month, at("2026-12-31T14:59:59Z")).resetsAtMs).toBe(at("2026-12-31T15:00:00Z"));
  });
});

describe("rolling and lifetime windows", () => {
  it("covers the last N seconds in 12 slices, dropping the oldest slice as time passes", () => {
    const hour = { type: "rolling", seconds: 3600 } as const; // 12 slices of 300 s
    const t = at("2026-11-24T10:07:00Z");
    const position = windowPosition(hour, t);
    expect(position.buckets).toHaveLength(12);
    expect(position.buckets[11]).toBe(bucketAt(hour, t));
    expect(position.resetsAtMs).toBe(at("2026-11-24T10:10:00Z"));
    const later = windowPosition(hour, at("2026-11-24T10:10:00Z"));
    expect(later.buckets.slice(0, 11)).toEqual(position.buckets.slice(1));
    // An hour and a slice later nothing of the old window is left.
    const gone = windowPosition(hour, t + 3600_000 + 300_000);
    expect(gone.buckets.some((b) => position.buckets.includes(b))).toBe(false);
  });

  it("keeps one bucket forever for a lifetime budget", () => {
    const lifetime = { type: "lifetime" } as const;
    expect(windowPosition(lifetime, 0)).toEqual({ buckets: ["all"], resetsAtMs: null, ttlSeconds: 0 });
    expect(bucketAt(lifetime, at("2099-01-01T00:00:00Z"))).toBe("all");
  });
});

describe("oldestOpenWindow (what a rebuild replays)", () => {
  const now = Date.parse("2026-11-01T00:20:00Z");
  it("reaches back to the UTC month, each budget's window, and the forecasts' last hour", () => {
    expect(oldestOpenWindow([], now)).toBe(Date.parse("2026-11-01T00:00:00Z"));
    // With any budget, the rate hour reaches into October in the month's first hour.
    const day = { window: { type: "calendar", unit: "day", timezone: "UTC" } } as const;
    expect(oldestOpenWindow([day], now)).toBeLessThanOrEqual(Date.parse("2026-10-31T23:25:00Z"));
    expect(oldestOpenWindow([day], now)).toBeGreaterThan(Date.parse("2026-10-31T23:10:00Z"));
    const year = { window: { type: "rolling", seconds: 365 * 86_400 } } as const;
    // A rolling year in twelve slices reaches back between eleven and twelve of them.
    expect(oldestOpenWindow([day, year], now)).toBeLessThanOrEqual(now - (11 * 365 * 86_400_000) / 12);
    expect(oldestOpenWindow([day, { window: { type: "lifetime" } }], now)).toBe(0);
  });
});
