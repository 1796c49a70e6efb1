import { describe, expect, it } from "vitest";
import { type Client, listAll } from "./http";

/** A server of `ids` in pages, recording the paths asked for. */
function pagedServer(ids: string[], paged = true): { client: Client; asked: string[] } {
  const asked: string[] = [];
  const client: Client = {
    async request<T>(_method: string, path: string): Promise<T> {
      asked.push(path);
      const query = new URL(path, "http://x").searchParams;
      if (!paged) return { budgets: ids.map((id) => ({ id })) } as T;
      const limit = Number(query.get("limit"));
      const after = query.get("after");
      const rest = ids.filter((id) => after === null || id > after);
      const page = rest.slice(0, limit);
      return { budgets: page.map((id) => ({ id })), next_after: rest.length > limit ? page.at(-1) : null } as T;
    },
  };
  return { client, asked };
}

describe("listAll", () => {
  it("asks for pages of 5,000 until next_after is null", async () => {
    const ids = Array.from({ length: 12_000 }, (_, i) => `b${String(i).padStart(5, "0")}`);
    const { client, asked } = pagedServer(ids);
    const all = await listAll<{ id: string }>(client, "/v1/budgets", "budgets");
    expect(all.map((b) => b.id)).toEqual(ids);
    expect(asked).toEqual([
      "/v1/budgets?limit=5000",
      "/v1/budgets?limit=5000&after=b04999",
      "/v1/budgets?limit=5000&after=b09999",
    ]);
  });
  it("takes a server without pages (no next_after) as one page", async () => {
    const { client, asked } = pagedServer(["a", "b"], false);
    expect(await listAll(client, "/v1/budgets", "budgets")).toHaveLength(2);
    expect(asked).toHaveLength(1);
  });
});
