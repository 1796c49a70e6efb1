import { describe, expect, it } from "vitest";
import { encodeIdPart, identifier, isWellFormedText, MAX_IDENTIFIER_LENGTH, NOT_WELL_FORMED, text } from "./text";

const UNICODE_IDS = [
  "用户-北京",
  "مستخدم_١",
  "משתמש",
  "🧑‍💻 agent 🚀",
  "e\u0301",
  "\u0000nul",
  "'; DROP TABLE x; --",
  'q"\\/\b\f\n\r\tq',
];

describe("text rule", () => {
  it("accepts any well-formed identifier unchanged: emoji, CJK, RTL, NUL, quotes, JSON specials", () => {
    for (const id of UNICODE_IDS) expect(identifier.parse(id)).toBe(id);
  });

  it("refuses lone surrogates, wherever they sit, naming the rule", () => {
    for (const bad of ["\ud800", "a\udc00b", "x\ud83d", "\ude00y"]) {
      const result = identifier.safeParse(bad);
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.message)).toContain(NOT_WELL_FORMED);
    }
    // A surrogate pair is an emoji, not an error.
    expect(isWellFormedText("\ud83d\ude00")).toBe(true);
  });

  it("states and enforces the identifier maximum; free text keeps its spaces when asked", () => {
    expect(identifier.safeParse("x".repeat(MAX_IDENTIFIER_LENGTH)).success).toBe(true);
    expect(identifier.safeParse("x".repeat(MAX_IDENTIFIER_LENGTH + 1)).success).toBe(false);
    expect(identifier.safeParse("   ").success).toBe(false);
    expect(text({ max: 10, min: 0, trim: false }).parse(" a ")).toBe(" a ");
  });
});

describe("encodeIdPart", () => {
  it("is encodeURIComponent on well-formed text, so existing keys keep their names", () => {
    for (const id of [...UNICODE_IDS, "u:1", "a}b{c", "%"]) {
      expect(encodeIdPart(id)).toBe(encodeURIComponent(id));
      expect(decodeURIComponent(encodeIdPart(id))).toBe(id);
    }
  });

  it("never throws and never maps two strings to one part (lone surrogates included)", () => {
    expect(encodeIdPart("a\ud800b")).toBe("a%uD800b");
    expect(encodeIdPart("\udfff")).not.toBe(encodeIdPart("%uDFFF"));
    // Every string of up to three units over an alphabet that makes encodeURIComponent throw.
    const alphabet = ["a", "%", "u", "D", "8", "\ud800", "\udc00", "\ud83d", "\ude00", "\uFFFD"];
    let strings = [""];
    for (let n = 0; n < 3; n++) strings = [...strings, ...strings.flatMap((s) => alphabet.map((c) => s + c))];
    const seen = new Map<string, string>();
    for (const s of new Set(strings)) {
      const part = encodeIdPart(s);
      expect(seen.get(part) ?? s).toBe(s);
      seen.set(part, s);
    }
  });
});
