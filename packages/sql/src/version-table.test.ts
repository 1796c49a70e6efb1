import { describe, expect, it } from "vitest";
import { VersionTable } from "./version-table";

describe("VersionTable", () => {
  it("keeps the last version set per id, exactly, past its first growth", () => {
    const table = new VersionTable();
    const base = 1_796_026_978_287_000; // µs: beyond V8's small integers, within 2^53
    for (let i = 0; i < 5_000; i++) table.set(`id-${i}`, base + i);
    table.set("id-7", base + 10_000);
    expect(table.get("id-0")).toBe(base);
    expect(table.get("id-4999")).toBe(base + 4_999);
    expect(table.get("id-7")).toBe(base + 10_000);
    expect(table.get("id-5000")).toBeUndefined();
  });
});
