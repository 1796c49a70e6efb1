import { z } from "zod";

/**
 * Cursor pages of the admin lists (GET /v1/budgets, GET /v1/keys): `limit`
 * items with ids after `after`, in id order, and `next_after` to ask for the
 * next page. Without `limit` a list answers whole, as before pages existed.
 */

/** At most this many items per page. */
export const LIST_PAGE_MAX = 5_000;

/** A list's query: `after` in the format of the list's ids (so a cursor that can be no id is refused, named). */
export function listPageQuerySchema(after: z.ZodString, what: string) {
  return z.object({
    limit: z.coerce
      .number({ error: "must be a number" })
      .int({ error: "must be a whole number" })
      .min(1, { error: "must be ≥ 1" })
      .max(LIST_PAGE_MAX, { error: `must be ≤ ${LIST_PAGE_MAX}` })
      .optional()
      .meta({
        description:
          `At most this many ${what} (1–${LIST_PAGE_MAX}), in id order; absent: every one at once (kept for ` +
          "old clients; page instead, a list may hold 100,000)",
      }),
    after: after.optional().meta({
      description: `Only the ${what} whose id sorts after this one: the previous page's \`next_after\``,
    }),
  });
}

/** The `next_after` of a paged list's reply (the OpenAPI document's). */
export const nextAfterSchema = z
  .string()
  .nullable()
  .meta({ description: "The id to pass as `after` for the next page; null on the last page (and without `limit`)" });

/**
 * Ids compared by UTF-16 code unit, as `<` does: the order the cursor's
 * "after" means. (localeCompare would put "B" after "a" but `"B" > "a"` is
 * false: a page could skip or repeat items.)
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Positions [from, to) of the page of a list sorted by id, and the next page's cursor: a binary search, no scan. */
export function pageRange(
  ids: { length: number; idAt(i: number): string },
  after: string | undefined,
  limit: number | undefined,
): { from: number; to: number; nextAfter: string | null } {
  let from = 0;
  if (after !== undefined) {
    let hi = ids.length;
    while (from < hi) {
      const mid = (from + hi) >>> 1;
      if (ids.idAt(mid) <= after) from = mid + 1;
      else hi = mid;
    }
  }
  if (limit === undefined) return { from, to: ids.length, nextAfter: null };
  const to = Math.min(from + limit, ids.length);
  return { from, to, nextAfter: to < ids.length && to > from ? ids.idAt(to - 1) : null };
}

/**
 * Id-sorted views of a list a store hands out as one array until it changes
 * (DefinitionStore.all()): sorted once per change, and each org's view
 * filtered once from that, not sorted per page request (100,000 budgets).
 */
export class SortedViews<T extends { id: string }> {
  private source: readonly T[] | null = null;
  private sorted: T[] = [];
  /** Per org (null: the operator's, everything), dropped on each change. */
  private readonly views = new Map<string | null, T[]>();

  view(source: readonly T[], org: string | null, belongs: (item: T) => boolean): T[] {
    if (source !== this.source) {
      this.source = source;
      this.sorted = [...source].sort((a, b) => compareIds(a.id, b.id));
      this.views.clear();
    }
    if (org === null) return this.sorted;
    let view = this.views.get(org);
    if (!view) {
      view = this.sorted.filter(belongs);
      this.views.set(org, view);
    }
    return view;
  }
}
