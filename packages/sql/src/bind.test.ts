import { describe, expect, it } from "vitest";
import { bindSql, quoteIdentifier, quoteString, SqlBindError, tabSeparatedField } from "./bind";

describe("bindSql", () => {
  it("replaces placeholders by typed literals", () => {
    expect(
      bindSql(
        "SELECT * FROM t WHERE a = {a:String} AND n >= {n:UInt32} AND ts < {ts:DateTime} AND x IN {xs:Array(String)}",
        {
          a: "x",
          n: 5,
          ts: new Date("2026-01-01T00:00:00Z"),
          xs: ["p", "q"],
        },
      ),
    ).toBe("SELECT * FROM t WHERE a = 'x' AND n >= 5 AND ts < toDateTime(1767225600, 'UTC') AND x IN ['p', 'q']");
  });

  it("escapes every character that could end a string literal", () => {
    expect(quoteString("it's")).toBe("'it\\'s'");
    expect(quoteString("back\\slash")).toBe("'back\\\\slash'");
    expect(quoteString("\\'")).toBe("'\\\\\\''");
    expect(quoteString("a\nb\0c\td\re")).toBe("'a\\nb\\0c\\td\\re'");
    expect(bindSql("SELECT {v:String}", { v: "'; DROP TABLE usage_events; --" })).toBe(
      "SELECT '\\'; DROP TABLE usage_events; --'",
    );
  });

  it("escapes every character that could end a TabSeparated field or row", () => {
    expect(tabSeparatedField("plain-id")).toBe("plain-id");
    expect(tabSeparatedField("a\tb\nc\rd\\e\0f")).toBe("a\\tb\\nc\\rd\\\\e\\0f");
  });

  it("refuses values that do not fit the declared type", () => {
    expect(() => bindSql("SELECT {n:UInt32}", { n: -1 })).toThrow(SqlBindError);
    expect(() => bindSql("SELECT {n:UInt8}", { n: 256 })).toThrow(/out of range/);
    expect(() => bindSql("SELECT {n:Int64}", { n: "1; DROP" })).toThrow(/integer/);
    expect(() => bindSql("SELECT {n:UInt64}", { n: 1.5 })).toThrow(/integer/);
    expect(() => bindSql("SELECT {s:String}", { s: 5 })).toThrow(/string/);
    expect(() => bindSql("SELECT {s:String}", { s: null })).toThrow(/Nullable/);
    expect(bindSql("SELECT {s:Nullable(String)}", { s: null })).toBe("SELECT NULL");
    expect(bindSql("SELECT {n:UInt64}", { n: 18446744073709551615n })).toBe("SELECT 18446744073709551615");
  });

  it("refuses missing, unused and unsupported parameters", () => {
    expect(() => bindSql("SELECT {a:String}", {})).toThrow(/missing value for parameter a/);
    expect(() => bindSql("SELECT 1", { a: "x" })).toThrow(/not used/);
    expect(() => bindSql("SELECT {a:Float64}", { a: 1 })).toThrow(/unsupported type/);
  });

  it("accepts only plain identifiers", () => {
    expect(quoteIdentifier("tollgate_test_1")).toBe("tollgate_test_1");
    expect(() => quoteIdentifier("x; DROP")).toThrow(SqlBindError);
    expect(() => quoteIdentifier("")).toThrow(SqlBindError);
  });
});
