import { describe, expect, it } from "vitest";
import { loadMigrations, splitStatements } from "./migrate";
import { versionAtLeast } from "./store";

describe("migrations", () => {
  it("splits statements and reads their version gates", () => {
    const statements = splitStatements(
      "-- a table\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\n-- requires-version: 20.1\nALTER TABLE a ADD COLUMN y UInt8;\n",
    );
    expect(statements).toEqual([
      { sql: "CREATE TABLE a (x UInt8)\nENGINE = Memory", requiresVersion: null },
      { sql: "ALTER TABLE a ADD COLUMN y UInt8", requiresVersion: "20.1" },
    ]);
    expect(() => splitStatements("SELECT 1")).toThrow(/terminating/);
  });

  it("ships numbered, ordered migrations", () => {
    const migrations = loadMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b));
    expect(migrations[0]?.name).toBe("001_create_usage_events");
  });

  it("compares engine versions numerically", () => {
    expect(versionAtLeast("18.16.1", "20.1")).toBe(false);
    expect(versionAtLeast("26.7.2.1", "23.8")).toBe(true);
    expect(versionAtLeast("23.10", "23.8")).toBe(true);
    expect(versionAtLeast("23.8", "23.8")).toBe(true);
  });
});
