import { describe, expect, it } from "vitest";
import { createInterner } from "./interner";

describe("createInterner", () => {
  it("hands out one frozen instance for equal values, leaving the caller's value alone", () => {
    const intern = createInterner();
    const a = { type: "calendar", unit: "day", nested: { x: [1, 2] } };
    const b = { type: "calendar", unit: "day", nested: { x: [1, 2] } };
    const shared = intern(a);
    expect(intern(b)).toBe(shared);
    expect(shared).toEqual(a);
    expect(Object.isFrozen(shared)).toBe(true);
    expect(Object.isFrozen(shared.nested.x)).toBe(true);
    expect(Object.isFrozen(a)).toBe(false);
    expect(intern({ type: "calendar", unit: "week" })).not.toBe(shared);
  });

  it("returns primitives and null as they are", () => {
    const intern = createInterner();
    expect(intern(null)).toBeNull();
    expect(intern("x")).toBe("x");
    expect(intern(5)).toBe(5);
  });

  it("stops pooling at its bound and returns new values unshared", () => {
    const intern = createInterner(2);
    const first = intern({ n: 1 });
    intern({ n: 2 });
    const third = { n: 3 };
    expect(intern(third)).toBe(third);
    expect(intern({ n: 3 })).not.toBe(third);
    expect(intern({ n: 1 })).toBe(first);
  });
});
