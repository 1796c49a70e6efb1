import { describe, expect, it } from "vitest";
import { batchLists, batchStatus, inRequestOrder, itemRejection, repeatedIds } from "./batch";

describe("batchLists", () => {
  it("takes an object of the named lists, absent ones empty", () => {
    expect(batchLists({ upsert: [1] }, ["upsert", "delete"], 3)).toEqual({ lists: { upsert: [1], delete: [] } });
  });

  it("refuses what is no batch, naming the field: another key, a list that is none, nothing at all", () => {
    const refusal = (body: unknown) => {
      const out = batchLists(body, ["upsert", "delete"], 3);
      return "refusal" in out ? out.refusal : undefined;
    };
    expect(
      refusal({ upsert: {}, remove: [] })
        ?.body.errors?.map((e) => e.path)
        .sort(),
    ).toEqual(["(root)", "upsert"]);
    expect(refusal([])?.status).toBe(400);
    expect(refusal({ upsert: [], delete: [] })?.body.errors?.[0]?.message).toMatch(/at least one item/);
  });

  it("counts every list against the cap: 413 past it", () => {
    expect(batchLists({ upsert: [1, 2], delete: [3] }, ["upsert", "delete"], 3)).toHaveProperty("lists");
    const over = batchLists({ upsert: [1, 2], delete: [3, 4] }, ["upsert", "delete"], 3);
    expect(over).toEqual({
      refusal: {
        status: 413,
        body: { error: "batch_too_large", message: "a batch may hold at most 3 items; this one has 4" },
      },
    });
  });
});

describe("itemRejection", () => {
  it("keeps a 400's field errors and joins them into its message", () => {
    const errors = [
      { path: "metric", message: "must be one of tokens" },
      { path: "limit", message: "must be ≥ 0" },
    ];
    expect(itemRejection("upsert", 2, "b", { status: 400, body: { error: "invalid_budget", errors } })).toEqual({
      op: "upsert",
      index: 2,
      id: "b",
      status: 400,
      error: "invalid_budget",
      message: "metric: must be one of tokens; limit: must be ≥ 0",
      errors,
    });
  });

  it("gives a refusal without fields (404, 409) its message under the id", () => {
    const r = itemRejection("delete", 0, undefined, {
      status: 404,
      body: { error: "not_found", message: "no budget x" },
    });
    expect(r).toEqual({
      op: "delete",
      index: 0,
      status: 404,
      error: "not_found",
      message: "no budget x",
      errors: [{ path: "id", message: "no budget x" }],
    });
  });
});

describe("the rest", () => {
  it("finds ids named twice, orders rejections as the request did, answers 400 when nothing went through", () => {
    expect([...repeatedIds(["a", undefined, "b", "a", undefined])]).toEqual(["a"]);
    const r = (op: string, index: number) => itemRejection(op, index, undefined, { status: 400, body: { error: "e" } });
    expect(inRequestOrder([r("delete", 0), r("upsert", 3), r("upsert", 1)], ["upsert", "delete"])).toEqual([
      r("upsert", 1),
      r("upsert", 3),
      r("delete", 0),
    ]);
    expect([batchStatus(0), batchStatus(1)]).toEqual([400, 200]);
  });
});
