import { useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { api, type Session } from "../api";
import { BarChart, QueryState, type Series, Table } from "../components";
import { int, isoDaysAgo, startOfUtcDay, startOfUtcMonth, usd } from "../format";
import { RecentDecisions } from "./recent-decisions";

interface Measures {
  requests: number;
  total_tokens: number;
  cost_micro_usd: number;
}
type SpendRow = Measures & { period: string } & Record<string, string | number>;
interface EfficacyRow {
  user_id: string;
  sessions: number;
  requests: number;
  total_tokens: number;
  cost_micro_usd: number;
  tokens_per_session: number;
  cost_micro_usd_per_session: number;
}
interface UnitRow {
  task_type: string;
  tasks: number;
  avg_cost_micro_usd: number;
  p50_cost_micro_usd: number;
  p90_cost_micro_usd: number;
}

const DIMENSIONS = ["project", "model", "agent", "user", "team", "feature"] as const;
const RANGES = [7, 30, 90] as const;

function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

function sum(rows: Measures[] | undefined): Measures {
  const total = { requests: 0, total_tokens: 0, cost_micro_usd: 0 };
  for (const r of rows ?? []) {
    total.requests += r.requests;
    total.total_tokens += r.total_tokens;
    total.cost_micro_usd += r.cost_micro_usd;
  }
  return total;
}

/**
 * Spend today and this month vs. last (rollups), the denials and degrades of
 * the last minutes (live), a switchable time series, and the three questions.
 */
export function OverviewPage(_props: { session: Session }) {
  const [dimension, setDimension] = useState<(typeof DIMENSIONS)[number]>("project");
  const [days, setDays] = useState<number>(30);
  const ids = { dimension: useId(), days: useId() };
  const now = new Date();
  const to = now.toISOString();

  const months = useQuery({
    queryKey: ["overview-months"],
    queryFn: () =>
      api<{ rows: SpendRow[] }>(
        `/v1/reports/spend?${query({ group_by: "org", granularity: "month", from: startOfUtcMonth(now, 1).toISOString(), to })}`,
      ),
    refetchInterval: 10_000,
  });
  const today = useQuery({
    queryKey: ["overview-today"],
    queryFn: () =>
      api<{ rows: SpendRow[] }>(
        `/v1/reports/spend?${query({ group_by: "org", granularity: "day", from: startOfUtcDay(now).toISOString(), to })}`,
      ),
    refetchInterval: 10_000,
  });
  const from = isoDaysAgo(days);
  const series = useQuery({
    queryKey: ["overview-series", dimension, days],
    queryFn: () =>
      api<{ rows: SpendRow[] }>(`/v1/reports/spend?${query({ group_by: dimension, granularity: "day", from, to })}`),
  });
  const projects = useQuery({
    queryKey: ["overview-projects", days],
    queryFn: () =>
      api<{ rows: Array<Measures & { project: string }> }>(
        `/v1/reports/top?${query({ by: "project", limit: "10", from, to })}`,
      ),
  });
  const efficacy = useQuery({
    queryKey: ["overview-efficacy", days],
    queryFn: () => api<{ rows: EfficacyRow[] }>(`/v1/reports/efficacy?${query({ from, to })}`),
  });
  const units = useQuery({
    queryKey: ["overview-units", days],
    queryFn: () => api<{ rows: UnitRow[] }>(`/v1/reports/unit-economics?${query({ from, to })}`),
  });

  const thisMonth = startOfUtcMonth(now).toISOString().slice(0, 10);
  const monthRows = months.data?.rows ?? [];
  const figures = [
    { label: "Today", total: sum(today.data?.rows) },
    { label: "This month", total: sum(monthRows.filter((r) => r.period.startsWith(thisMonth))) },
    { label: "Last month", total: sum(monthRows.filter((r) => !r.period.startsWith(thisMonth))) },
  ];

  return (
    <>
      <section aria-labelledby="spend-heading">
        <h2 id="spend-heading">Spend</h2>
        <QueryState loading={months.isPending || today.isPending} error={months.error ?? today.error} />
        <dl className="figures">
          {figures.map((f) => (
            <div key={f.label}>
              <dt>{f.label}</dt>
              <dd>
                <strong>{usd(f.total.cost_micro_usd)}</strong>
                <span>
                  {int(f.total.total_tokens)} tokens · {int(f.total.requests)} requests
                </span>
              </dd>
            </div>
          ))}
        </dl>
      </section>

      <RecentDecisions />

      <section aria-labelledby="series-heading">
        <h2 id="series-heading">Spend over time</h2>
        <div className="controls">
          <label htmlFor={ids.dimension}>Group by</label>
          <select
            id={ids.dimension}
            value={dimension}
            onChange={(e) => setDimension(e.target.value as (typeof DIMENSIONS)[number])}
          >
            {DIMENSIONS.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
          <label htmlFor={ids.days}>Period</label>
          <select id={ids.days} value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {RANGES.map((d) => (
              <option key={d} value={d}>
                last {d} days
              </option>
            ))}
          </select>
        </div>
        <QueryState loading={series.isPending} error={series.error} />
        {series.data && (
          <BarChart
            title={`Daily cost by ${dimension}, last ${days} days`}
            {...toSeries(series.data.rows, dimension, from)}
            format={usd}
          />
        )}
      </section>

      <section aria-labelledby="questions-heading">
        <h2 id="questions-heading">The three questions (last {days} days)</h2>
        <QueryState
          loading={projects.isPending || efficacy.isPending || units.isPending}
          error={projects.error ?? efficacy.error ?? units.error}
        />
        <Table
          caption="Cost per project"
          rows={projects.data?.rows ?? []}
          rowKey={(r) => r.project}
          columns={[
            { header: "Project", cell: (r) => r.project || "(none)" },
            { header: "Cost", cell: (r) => usd(r.cost_micro_usd), numeric: true },
            { header: "Tokens", cell: (r) => int(r.total_tokens), numeric: true },
            { header: "Requests", cell: (r) => int(r.requests), numeric: true },
          ]}
        />
        <Table
          caption="Per-user efficacy"
          rows={efficacy.data?.rows ?? []}
          rowKey={(r) => r.user_id}
          columns={[
            { header: "User", cell: (r) => r.user_id },
            { header: "Sessions", cell: (r) => int(r.sessions), numeric: true },
            { header: "Tokens per session", cell: (r) => int(r.tokens_per_session), numeric: true },
            { header: "Cost per session", cell: (r) => usd(r.cost_micro_usd_per_session), numeric: true },
            { header: "Cost", cell: (r) => usd(r.cost_micro_usd), numeric: true },
          ]}
        />
        <Table
          caption="Average cost per task type"
          rows={units.data?.rows ?? []}
          rowKey={(r) => r.task_type}
          columns={[
            { header: "Task type", cell: (r) => r.task_type || "(none)" },
            { header: "Tasks", cell: (r) => int(r.tasks), numeric: true },
            { header: "Average", cell: (r) => usd(r.avg_cost_micro_usd), numeric: true },
            { header: "Median", cell: (r) => usd(r.p50_cost_micro_usd), numeric: true },
            { header: "90th percentile", cell: (r) => usd(r.p90_cost_micro_usd), numeric: true },
          ]}
        />
      </section>
    </>
  );
}

/** The biggest six members as their own series, the rest as "other". */
function toSeries(rows: SpendRow[], dimension: string, from: string): { periods: string[]; series: Series[] } {
  // Every day of the range, with or without spend, so the chart's time axis is even.
  const periods: string[] = [];
  for (let day = Date.parse(from.slice(0, 10)); day <= Date.now(); day += 86_400_000) {
    periods.push(new Date(day).toISOString().slice(0, 10));
  }
  const totals = new Map<string, number>();
  for (const r of rows) {
    const member = String(r[dimension] || "(none)");
    totals.set(member, (totals.get(member) ?? 0) + r.cost_micro_usd);
  }
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([m]) => m);
  const shown = new Set(top.slice(0, 6));
  const labels = [...top.slice(0, 6), ...(top.length > 6 ? ["other"] : [])];
  const values = new Map(labels.map((l) => [l, periods.map(() => 0)]));
  for (const r of rows) {
    const member = String(r[dimension] || "(none)");
    const label = shown.has(member) ? member : "other";
    const line = values.get(label);
    const i = periods.indexOf(r.period.slice(0, 10));
    if (line) line[i] = (line[i] ?? 0) + r.cost_micro_usd;
  }
  return { periods, series: labels.map((label) => ({ label, values: values.get(label) ?? [] })) };
}
