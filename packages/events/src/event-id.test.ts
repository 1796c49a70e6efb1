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

  it("derives the same id in every release (a span retried across an upgrade is still one event)", () => {
    // sha256("tollgate:span:32:<trace>:<span>"), first 32 hex digits.
    expect(deriveEventId(undefined, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")).toBe(
      "sp_dde7d37bf0e9909e5e50d273a7c00ad1",
    );
  });

  it("generates a fresh UUID otherwise", () => {
    const a = deriveEventId(undefined, "tr_only", undefined);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(deriveEventId(undefined, undefined, undefined)).not.toBe(a);
  });
});
