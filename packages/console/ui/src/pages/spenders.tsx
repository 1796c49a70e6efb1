import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api, apiUrl, type Session } from "../api";
import { QueryState, Table } from "../components";
import { int, isoDaysAgo, usd } from "../format";

const DIMENSIONS = ["project", "agent", "user", "session", "team", "model", "feature", "task_type", "org"] as const;
type Dimension = (typeof DIMENSIONS)[number];
/** Drill-down: from a project to its agents, from an agent to its users, from a user to its sessions. */
const NEXT: Partial<Record<Dimension, Dimension>> = {
  project: "agent",
  agent: "user",
  user: "session",
  team: "project",
};
/**
 * Sessions are read from the raw events (there is no rollup by session), over
 * at most 31 days: the periods offered for them stop at 30.
 */
const PERIODS = [1, 7, 30, 90, 365];
const SESSION_PERIODS = [1, 7, 30];
const FILTER: Record<Dimension, string> = {
  project: "project_id",
  agent: "agent_id",
  user: "user_id",
  team: "team_id",
  model: "model",
  feature: "feature",
  task_type: "task_type",
  org: "org_id",
  // The last level: never a filter (nothing drills down from a session).
  session: "session_id",
};

interface TopRow {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cost_micro_usd: number;
  /** Of which charges for reservations that expired unreported (estimates). */
  unsettled_cost_micro_usd: number;
  [dimension: string]: string | number;
}

/** Top N spenders by any dimension over a range, with drill-down and the same rows as CSV. */
export function SpendersPage(_props: { session: Session }) {
  const [by, setBy] = useState<Dimension>("project");
  const [days, setDays] = useState(30);
  const [limit, setLimit] = useState(20);
  const [filters, setFilters] = useState<Array<{ dimension: Dimension; value: string }>>([]);
  const ids = { by: useId(), days: useId(), limit: useId() };
  // The range is fixed when chosen, so that the table and its CSV are the same rows.
  const [to] = useState(() => new Date().toISOString());
  const periods = by === "session" ? SESSION_PERIODS : PERIODS;
  // The period chosen, within what this dimension offers (sessions: 30 days at most).
  const shownDays = Math.min(days, periods[periods.length - 1] ?? days);
  const query: Record<string, string | number> = { by, limit, from: isoDaysAgo(shownDays, Date.parse(to)), to };
  for (const f of filters) query[FILTER[f.dimension]] = f.value;
  const top = useQuery({
    queryKey: ["spenders", query],
    queryFn: () => api<{ rows: TopRow[] }>(`/v1/reports/top?${new URLSearchParams(stringify(query))}`),
  });
  const next = NEXT[by];
  return (
    <>
      <div className="controls">
        <label htmlFor={ids.by}>Spenders by</label>
        <select id={ids.by} value={by} onChange={(e) => setBy(e.target.value as Dimension)}>
          {DIMENSIONS.map((d) => (
            <option key={d}>{d}</option>
          ))}
        </select>
        <label htmlFor={ids.days}>Period</label>
        <select id={ids.days} value={shownDays} onChange={(e) => setDays(Number(e.target.value))}>
          {periods.map((d) => (
            <option key={d} value={d}>
              last {d} days
            </option>
          ))}
        </select>
        <label htmlFor={ids.limit}>Top</label>
        <select id={ids.limit} value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
          {[10, 20, 50, 100].map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
        <a href={apiUrl("/v1/reports/top", { ...query, format: "csv" })} download={`spenders-by-${by}.csv`}>
          Download CSV
        </a>
      </div>
      {filters.length > 0 && (
        <nav aria-label="Drill-down">
          <ol className="crumbs">
            {filters.map((f, i) => (
              <li key={f.dimension}>
                {f.dimension} {f.value}{" "}
                <button
                  type="button"
                  aria-label={`Remove filter ${f.dimension} ${f.value}`}
                  onClick={() => {
                    setFilters(filters.slice(0, i));
                    setBy(f.dimension);
                  }}
                >
                  ×
                </button>
              </li>
            ))}
          </ol>
        </nav>
      )}
      {by === "session" && <p>Sessions come from the raw events: at most the last 30 days.</p>}
      <QueryState loading={top.isPending} error={top.error} />
      <Table
        caption={`Top ${limit} by ${by}, last ${shownDays} days`}
        rows={top.data?.rows ?? []}
        rowKey={(r) => String(r[by])}
        columns={[
          {
            header: by,
            cell: (r) =>
              next ? (
                <button
                  type="button"
                  className="link"
                  aria-label={`Show the ${next}s of ${by} ${r[by]}`}
                  onClick={() => {
                    setFilters([...filters, { dimension: by, value: String(r[by]) }]);
                    setBy(next);
                  }}
                >
                  {String(r[by]) || "(none)"}
                </button>
              ) : (
                String(r[by]) || "(none)"
              ),
          },
          { header: "Cost", cell: (r) => usd(r.cost_micro_usd), numeric: true },
          {
            header: "Of which unsettled",
            cell: (r) => (r.unsettled_cost_micro_usd > 0 ? usd(r.unsettled_cost_micro_usd) : "—"),
            numeric: true,
          },
          { header: "Tokens", cell: (r) => int(r.total_tokens), numeric: true },
          { header: "Input", cell: (r) => int(r.input_tokens), numeric: true },
          { header: "Output", cell: (r) => int(r.output_tokens), numeric: true },
          { header: "Requests", cell: (r) => int(r.requests), numeric: true },
        ]}
      />
    </>
  );
}

function stringify(query: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)]));
}
