import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "./api";

/**
 * A list the API pages (`GET /v1/<name>?limit&after` → `next_after`), one
 * page at a time: with tens of thousands of budgets or keys the page asks
 * for `pageSize` of them, not all. The trail keeps each earlier page's
 * `after`, so "previous" goes back exactly. Invalidating `[name]` refreshes
 * whichever page is shown.
 */
export function usePagedList<T>(
  name: "budgets" | "keys",
  pageSize: number,
  options: { enabled?: boolean; refetchInterval?: number } = {},
) {
  const [trail, setTrail] = useState<string[]>([]);
  const after = trail[trail.length - 1];
  const query = useQuery({
    queryKey: [name, after ?? ""],
    enabled: options.enabled,
    refetchInterval: options.refetchInterval,
    queryFn: () => {
      const params = new URLSearchParams({ limit: String(pageSize) });
      if (after !== undefined) params.set("after", after);
      return api<Record<string, unknown> & { next_after: string | null }>(`/v1/${name}?${params}`);
    },
  });
  const nextAfter = query.data?.next_after ?? null;
  return {
    query,
    items: query.data?.[name] as T[] | undefined,
    page: trail.length + 1,
    next: nextAfter === null ? undefined : () => setTrail([...trail, nextAfter]),
    previous: trail.length === 0 ? undefined : () => setTrail(trail.slice(0, -1)),
  };
}

/** "Page N" with the buttons to move, shown only when there is more than one page. */
export function Pager(props: { label: string; page: number; next?: () => void; previous?: () => void }) {
  if (!props.next && !props.previous) return null;
  return (
    <nav className="pager" aria-label={props.label}>
      <button type="button" onClick={props.previous} disabled={!props.previous}>
        Previous page
      </button>{" "}
      <span>Page {props.page}</span>{" "}
      <button type="button" onClick={props.next} disabled={!props.next}>
        Next page
      </button>
    </nav>
  );
}
