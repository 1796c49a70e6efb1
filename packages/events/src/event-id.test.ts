import { describe, expect, it } from "vitest";
import { deriveEventId } from "./event-id";

describe("deriveEventId", () => {
  it("uses the given id first", () => {
    expect(deriveEventId("evt_7", "tr", "sp")).toBe("evt_7");
  });

  it("derives a stable id from trace_id + span_id", () => {
    const id = deriveEventId(undefined, "tr_9912", "span_1");
    expect(id).toMatch(/^sp_[0-9a-f]{32}$/);
    expect(deriveEventId(undefined, "tr_9912", "span_1")).toBe(id);
    expect(deriveEventId(undefined, "tr_9912", "span_2")).not.toBe(id);
    // No ambiguity between ("a:b","c") and ("a","b:c").
    expect(deriveEventId(undefined, "a:b", "c")).not.toBe(deriveEventId(undefined, "a", "b:c"));
  });

  it("generates a fresh UUID otherwise", () => {
    const a = deriveEventId(undefined, "tr_only", undefined);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(deriveEventId(undefined, undefined, undefined)).not.toBe(a);
  });
});
