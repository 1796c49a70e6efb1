import { describe, expect, it } from "vitest";
import { z } from "zod";
import { listPageQuerySchema, pageRange, SortedViews } from "./pages";

const ids = (list: string[]) => ({ length: list.length, idAt: (i: number) => list[i] as string });

describe("pageRange", () => {
  const sorted = ["a1", "a2", "b1", "b2", "c1"];
  it("answers the ids after `after`, at most `limit`, and the next cursor until the last page", () => {
    expect(pageRange(ids(sorted), undefined, 2)).toEqual({ from: 0, to: 2, nextAfter: "a2" });
    expect(pageRange(ids(sorted), "a2", 2)).toEqual({ from: 2, to: 4, nextAfter: "b2" });
    expect(pageRange(ids(sorted), "b2", 2)).toEqual({ from: 4, to: 5, nextAfter: null });
    // A full last page says so too: no empty page to ask for.
    expect(pageRange(ids(sorted), "b1", 2)).toEqual({ from: 3, to: 5, nextAfter: null });
    // An `after` that is no id (deleted since) starts at the next one.
    expect(pageRange(ids(sorted), "a3", 10)).toEqual({ from: 2, to: 5, nextAfter: null });
    expect(pageRange(ids(sorted), "z", 10)).toEqual({ from: 5, to: 5, nextAfter: null });
    expect(pageRange(ids([]), undefined, 10)).toEqual({ from: 0, to: 0, nextAfter: null });
  });
  it("without a limit answers everything after `after`", () => {
    expect(pageRange(ids(sorted), undefined, undefined)).toEqual({ from: 0, to: 5, nextAfter: null });
    expect(pageRange(ids(sorted), "b1", undefined)).toEqual({ from: 3, to: 5, nextAfter: null });
  });
});

describe("SortedViews", () => {
  it("sorts once per array the store hands out, by code unit, and filters each org's view from it", () => {
    const views = new SortedViews<{ id: string; org: string | null }>();
    const source = [
      { id: "b", org: "o1" },
      { id: "_", org: null },
      { id: "B", org: "o2" },
      { id: "a", org: "o1" },
    ];
    const all = views.view(source, null, () => true);
    expect(all.map((x) => x.id)).toEqual(["B", "_", "a", "b"]);
    expect(views.view(source, null, () => true)).toBe(all);
    const o1 = views.view(source, "o1", (x) => x.org === "o1");
    expect(o1.map((x) => x.id)).toEqual(["a", "b"]);
    expect(views.view(source, "o1", () => false)).toBe(o1);
    // A new array from the store (a change): sorted and filtered again.
    const changed = [...source, { id: "0", org: "o1" }];
    expect(views.view(changed, "o1", (x) => x.org === "o1").map((x) => x.id)).toEqual(["0", "a", "b"]);
  });
});

describe("listPageQuerySchema", () => {
  const schema = listPageQuerySchema(z.string().regex(/^[a-z]+$/, { error: "must be an id" }), "things");
  it("takes no parameters, a limit of 1–5,000 and an id-shaped after; names each bad one", () => {
    expect(schema.parse({})).toEqual({});
    expect(schema.parse({ limit: "5000", after: "abc" })).toEqual({ limit: 5_000, after: "abc" });
    const paths = (query: unknown) => {
      const parsed = schema.safeParse(query);
      return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join("."));
    };
    expect(paths({ limit: "0" })).toEqual(["limit"]);
    expect(paths({ limit: "5001" })).toEqual(["limit"]);
    expect(paths({ limit: "2.5" })).toEqual(["limit"]);
    expect(paths({ limit: ["1", "2"] })).toEqual(["limit"]);
    expect(paths({ after: "A B" })).toEqual(["after"]);
    expect(paths({ after: ["a", "b"] })).toEqual(["after"]);
  });
});
