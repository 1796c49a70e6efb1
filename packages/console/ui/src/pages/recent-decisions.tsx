import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { QueryState, Table } from "../components";

/** A check that was not a plain allow, as GET /v1/decisions/recent answers it. */
export interface DecisionRow {
  at: string;
  decision: "deny" | "throttle" | "degrade" | "warn";
  reason: string;
  budget_id: string | null;
  org_id: string | null;
  team_id: string | null;
  project_id: string | null;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  model: string | null;
  degraded_to: string | null;
}

/** How far back the Overview looks, and how often it asks again (one poll, paused while the tab is hidden). */
export const DECISIONS_MINUTES = 15;
export const DECISIONS_LIVE_MS = 2_000;

function who(r: DecisionRow): string {
  const parts = [
    r.org_id && `org ${r.org_id}`,
    r.project_id && `project ${r.project_id}`,
    r.user_id && `user ${r.user_id}`,
    r.agent_id && `agent ${r.agent_id}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(" · ") : "(no identity)";
}

function time(iso: string): string {
  return `${iso.slice(11, 19)} UTC`;
}

/**
 * The live part of the Overview: the denials, throttles, degrades and warnings
 * of the last minutes, newest first, from every enforcement instance; the
 * server keeps each key to what it may see (its org, its user).
 */
export function RecentDecisions() {
  const recent = useQuery({
    queryKey: ["overview-decisions"],
    queryFn: () => api<{ decisions: DecisionRow[] }>(`/v1/decisions/recent?minutes=${DECISIONS_MINUTES}&limit=50`),
    refetchInterval: DECISIONS_LIVE_MS,
  });
  // Same-time records of one subject may repeat: the position keeps React's keys apart.
  const rows = (recent.data?.decisions ?? []).map((r, i) => ({ ...r, key: `${i}-${r.at}` }));
  return (
    <section aria-labelledby="decisions-heading">
      <h2 id="decisions-heading">Denials and degrades, last {DECISIONS_MINUTES} minutes</h2>
      <QueryState loading={recent.isPending} error={recent.error} />
      <Table
        caption={`Recent decisions other than allow (live, every ${DECISIONS_LIVE_MS / 1000} s)`}
        rows={rows}
        rowKey={(r) => r.key}
        columns={[
          {
            header: "Time",
            cell: (r) => (
              <time className="nowrap" dateTime={r.at}>
                {time(r.at)}
              </time>
            ),
          },
          { header: "Decision", cell: (r) => <span className={`decision decision-${r.decision}`}>{r.decision}</span> },
          { header: "Who", cell: who },
          { header: "Budget", cell: (r) => <span className="nowrap">{r.budget_id ?? "—"}</span> },
          {
            header: "Model",
            cell: (r) => (r.degraded_to ? `${r.model ?? "?"} → ${r.degraded_to}` : (r.model ?? "—")),
          },
          { header: "Reason", cell: (r) => r.reason },
        ]}
      />
    </section>
  );
}
