import { describe, expect, it } from "vitest";
import { malformedQueryParameter } from "./http";

describe("query text", () => {
  it("names the parameter whose percent-encoding is not UTF-8", () => {
    expect(malformedQueryParameter("from=x&user_id=%ED%A0%80")).toBe("user_id"); // a UTF-16 surrogate as UTF-8
    expect(malformedQueryParameter("project_id=%FF&x=1")).toBe("project_id");
    expect(malformedQueryParameter("%C3=1")).toBe("\uFFFD"); // a truncated name: named as well as it can be
  });

  it("lets well-formed text through: emoji, CJK, RTL, plus-spaces, a lone % as the parser reads it", () => {
    const q = new URLSearchParams({ user_id: "用户🧑‍💻", agent_id: "مستخدم", feature: "100%" }).toString();
    expect(malformedQueryParameter(q)).toBeNull();
    expect(malformedQueryParameter("feature=100%&a=b+c")).toBeNull();
    expect(malformedQueryParameter("")).toBeNull();
  });
});
