import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Session } from "../api";
import { QueryState, UsageMeter } from "../components";
import { amount, isoDaysAgo, SCOPE_FIELD, when } from "../format";
import { Pager, usePagedList } from "../paging";
import { BudgetForm } from "./budget-form";
import { Grants, TierForm } from "./grants";

export interface Budget {
  id: string;
  org_id?: string | null;
  scope: { type: string; id: string };
  metric: string;
  window:
    | { type: "calendar"; unit: string; timezone: string }
    | { type: "rolling"; seconds: number }
    | { type: "lifetime" };
  limit: number;
  soft_limit_pct: number | null;
  action: string;
  alert_thresholds_pct: number[];
  degrade: { model_map: Record<string, string>; max_output_tokens: number | null } | null;
  filter: Record<string, string>;
  per_request: Record<string, number>;
  rate_limit: Record<string, number>;
  tier: string | null;
  failure_policy: string | null;
}

export interface Standing {
  id: string;
  member: string;
  metric: string;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  resets_at: string | null;
  limit_kind: string;
  projected_exhaustion_at: string | null;
}

/** Live standings are polled this often: a reported event shows within 2 s. */
export const LIVE_MS = 1_000;
/** Dimensions the reports know, to find the members of a "*" budget. */
const REPORT_DIMENSION: Record<string, string> = {
  org: "org",
  team: "team",
  project: "project",
  user: "user",
  agent: "agent",
  feature: "feature",
  model: "model",
};

function windowText(b: Budget): string {
  if (b.window.type === "calendar") return `per ${b.window.unit} (${b.window.timezone})`;
  if (b.window.type === "rolling") return `rolling ${b.window.seconds} s`;
  return "lifetime";
}

/** Budgets per page of the Budgets page, in id order (the API's paging). */
const BUDGETS_PER_PAGE = 50;

export function BudgetsPage(props: { session: Session }) {
  const queries = useQueryClient();
  const admin = props.session.role === "admin";
  const [editing, setEditing] = useState<Budget | "new" | null>(null);
  // A page of budgets at a time: each shows its members' live standings (a query each).
  const budgets = usePagedList<Budget>("budgets", BUDGETS_PER_PAGE, { refetchInterval: 5_000 });
  const remove = async (b: Budget) => {
    await api(`/v1/budgets/${encodeURIComponent(b.id)}`, { method: "DELETE" });
    await queries.invalidateQueries({ queryKey: ["budgets"] });
  };
  return (
    <>
      {admin && editing === null && (
        <button type="button" onClick={() => setEditing("new")}>
          New budget
        </button>
      )}
      {admin && editing !== null && (
        <BudgetForm
          key={editing === "new" ? "new" : editing.id}
          session={props.session}
          editing={editing === "new" ? null : editing}
          onDone={() => setEditing(null)}
        />
      )}
      {admin && <TierForm session={props.session} />}
      <QueryState loading={budgets.query.isPending} error={budgets.query.error} />
      {budgets.items?.length === 0 && budgets.page === 1 && <p>No budgets yet.</p>}
      <Pager label="Budget pages" page={budgets.page} next={budgets.next} previous={budgets.previous} />
      {budgets.items?.map((b) => (
        <section key={b.id} className="budget" aria-labelledby={`budget-${b.id}`}>
          <h2 id={`budget-${b.id}`}>{b.id}</h2>
          <p>
            {b.scope.type} {b.scope.id === "*" ? "(each member)" : b.scope.id} · {b.metric} · {windowText(b)} · limit{" "}
            {amount(b.metric, b.limit)} · {b.action}
            {b.soft_limit_pct !== null ? ` · warns at ${b.soft_limit_pct} %` : ""}
            {b.org_id ? ` · org ${b.org_id}` : ""}
          </p>
          {admin && (
            <div className="actions">
              <button type="button" aria-label={`Edit budget ${b.id}`} onClick={() => setEditing(b)}>
                Edit
              </button>
              <button type="button" aria-label={`Delete budget ${b.id}`} onClick={() => remove(b)}>
                Delete
              </button>
            </div>
          )}
          <Standings budget={b} />
          <Grants budget={b} session={props.session} />
        </section>
      ))}
      <Pager label="Budget pages, again" page={budgets.page} next={budgets.next} previous={budgets.previous} />
    </>
  );
}

/** The members' standings of one budget, closest to the limit first, live. */
function Standings(props: { budget: Budget }) {
  const b = props.budget;
  const field = SCOPE_FIELD[b.scope.type];
  const dimension = REPORT_DIMENSION[b.scope.type];
  const members = useQuery({
    queryKey: ["budget-members", b.id, b.scope.type, b.scope.id, b.org_id ?? ""],
    enabled: b.scope.id === "*" && dimension !== undefined,
    queryFn: async () => {
      const params = new URLSearchParams({ by: dimension ?? "user", limit: "20", from: isoDaysAgo(31) });
      if (b.org_id) params.set("org_id", b.org_id);
      const top = await api<{ rows: Array<Record<string, string>> }>(`/v1/reports/top?${params}`);
      return top.rows.map((r) => String(r[dimension ?? "user"])).filter(Boolean);
    },
    refetchInterval: 10_000,
  });
  const names = b.scope.id === "*" ? (members.data ?? []) : [b.scope.id];
  const standings = useQuery({
    queryKey: ["standings", b.id, names],
    enabled: field !== undefined && names.length > 0,
    refetchInterval: LIVE_MS,
    queryFn: async () =>
      Promise.all(
        names.map(async (member) => {
          const params = new URLSearchParams({ [field ?? "user_id"]: member });
          if (b.org_id && field !== "org_id") params.set("org_id", b.org_id);
          const usage = await api<{ budgets: Standing[] }>(`/v1/usage?${params}`);
          const own = usage.budgets.filter((s) => s.id === b.id);
          // The limit that binds the member: the standing with the least left, of every budget that applies.
          const binding = [...usage.budgets].sort(
            (x, y) => x.remaining / (x.limit || 1) - y.remaining / (y.limit || 1),
          )[0];
          return own.map((s) => ({ ...s, member, binding: binding?.id ?? s.id }));
        }),
      ).then((all) => all.flat().sort((x, y) => y.used / (y.limit || 1) - x.used / (x.limit || 1))),
  });
  if (field === undefined || (b.scope.id === "*" && dimension === undefined)) {
    return <p>Standings of {b.scope.type} budgets show per member at /v1/usage; the console lists no members.</p>;
  }
  const rows = standings.data ?? [];
  return (
    <>
      <QueryState
        loading={(b.scope.id === "*" && members.isPending) || (standings.isPending && names.length > 0)}
        error={standings.error ?? members.error}
      />
      <table>
        <caption>Standing of {b.id} by member, closest to the limit first</caption>
        <thead>
          <tr>
            <th scope="col">Member</th>
            <th scope="col">Window</th>
            <th scope="col">% of limit</th>
            <th scope="col" className="num">
              Limit (with grants)
            </th>
            <th scope="col" className="num">
              Used
            </th>
            <th scope="col" className="num">
              Held
            </th>
            <th scope="col" className="num">
              Remaining
            </th>
            <th scope="col">Resets</th>
            <th scope="col">Runs out (at the current rate)</th>
            <th scope="col">Binding limit</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td colSpan={10}>No usage yet.</td>
            </tr>
          ) : (
            rows.map((s) => {
              return (
                <tr key={`${s.member}-${s.limit_kind}`}>
                  <th scope="row">{s.member}</th>
                  <td>{s.limit_kind}</td>
                  <td>
                    <UsageMeter
                      label={`${b.id} ${s.member}`}
                      used={s.used}
                      held={s.reserved}
                      limit={s.limit}
                      softPct={b.soft_limit_pct}
                    />
                  </td>
                  <td className="num">{amount(s.metric, s.limit)}</td>
                  <td className="num" data-testid={`used-${b.id}-${s.member}`}>
                    {amount(s.metric, s.used)}
                  </td>
                  <td className="num">{amount(s.metric, s.reserved)}</td>
                  <td className="num">{amount(s.metric, s.remaining)}</td>
                  <td>{when(s.resets_at)}</td>
                  <td>{when(s.projected_exhaustion_at)}</td>
                  <td>{s.binding === b.id ? "this budget" : s.binding}</td>
                </tr>
              );
            })
          )}
        </tbody>
      </table>
    </>
  );
}
