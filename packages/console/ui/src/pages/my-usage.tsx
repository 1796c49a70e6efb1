import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api, type Session } from "../api";
import { QueryState, Table, UsageMeter } from "../components";
import { amount, int, usd, when } from "../format";
import { LIVE_MS, type Standing } from "./budgets";

interface WindowTotals {
  tokens: number;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  requests: number;
}
interface Usage {
  budgets: Standing[];
  totals: Record<string, Record<string, WindowTotals>>;
}

/**
 * What a key bound to a user sees: its own budgets and usage, live. Another
 * key names the user to look at; the API refuses what the key may not read.
 */
export function MyUsagePage(props: { session: Session }) {
  const own = props.session.bound_tags.user_id ?? props.session.default_tags.user_id;
  const [user, setUser] = useState(own ?? "");
  const inputId = useId();
  const usage = useQuery({
    queryKey: ["my-usage", user],
    enabled: user !== "",
    refetchInterval: LIVE_MS,
    queryFn: () => api<Usage>(`/v1/usage?${new URLSearchParams({ user_id: user })}`),
  });
  const pick = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setUser(String(new FormData(event.currentTarget).get("user") ?? "").trim());
  };
  const totals = Object.entries(usage.data?.totals.user ?? {});
  return (
    <>
      {own ? (
        <p>This key is bound to user {own}.</p>
      ) : (
        <form className="controls" onSubmit={pick}>
          <label htmlFor={inputId}>User</label>
          <input id={inputId} name="user" defaultValue={user} />
          <button type="submit">Show usage</button>
        </form>
      )}
      {user !== "" && <QueryState loading={usage.isPending} error={usage.error} />}
      {usage.data && (
        <>
          <Table
            caption={`Usage of ${user}`}
            rows={totals}
            rowKey={([w]) => w}
            columns={[
              { header: "Window", cell: ([w]) => w },
              { header: "Cost", cell: ([, t]) => usd(t.cost_micro_usd), numeric: true },
              { header: "Tokens", cell: ([, t]) => int(t.tokens), numeric: true },
              { header: "Requests", cell: ([, t]) => int(t.requests), numeric: true },
            ]}
          />
          <Table
            caption={`Budgets of ${user}`}
            rows={usage.data.budgets}
            rowKey={(s) => `${s.id}-${s.limit_kind}`}
            columns={[
              { header: "Budget", cell: (s) => s.id },
              {
                header: "% of limit",
                cell: (s) => <UsageMeter label={s.id} used={s.used} held={s.reserved} limit={s.limit} />,
              },
              { header: "Used", cell: (s) => amount(s.metric, s.used), numeric: true },
              { header: "Remaining", cell: (s) => amount(s.metric, s.remaining), numeric: true },
              { header: "Resets", cell: (s) => when(s.resets_at) },
              { header: "Runs out", cell: (s) => when(s.projected_exhaustion_at) },
            ]}
          />
        </>
      )}
    </>
  );
}
