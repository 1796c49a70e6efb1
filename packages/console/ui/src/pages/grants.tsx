import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { type ApiError, api, type FieldError, type Session } from "../api";
import { Field, fieldError, Table } from "../components";
import { amount, when } from "../format";
import type { Budget } from "./budgets";

interface Grant {
  id: string;
  member: string | null;
  amount: number;
  expires_at_ms: number;
  reason: string | null;
}

/** A number when the text is one; else the text, so that the API names what is wrong with it. */
function numberOrText(text: string): number | string {
  return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** A budget's live grants (temporary top-ups), and for admins: grant and revoke. */
export function Grants(props: { budget: Budget; session: Session }) {
  const b = props.budget;
  const admin = props.session.role === "admin";
  const queries = useQueryClient();
  const uid = useId();
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const grants = useQuery({
    queryKey: ["grants", b.id],
    queryFn: () => api<{ grants: Grant[] }>(`/v1/budgets/${encodeURIComponent(b.id)}/grants`),
    refetchInterval: 10_000,
  });
  const refresh = () =>
    Promise.all([
      queries.invalidateQueries({ queryKey: ["grants", b.id] }),
      queries.invalidateQueries({ queryKey: ["standings", b.id] }),
    ]);
  const grant = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const f = new FormData(form);
    const text = (name: string) => String(f.get(name) ?? "").trim();
    const hours = Number(text("hours"));
    const body: Record<string, unknown> = {
      amount: numberOrText(text("amount")),
      expires_at: Number.isFinite(hours) && hours > 0 ? new Date(Date.now() + hours * 3_600_000).toISOString() : "",
    };
    if (text("member")) body.member = text("member");
    if (text("reason")) body.reason = text("reason");
    setErrors([]);
    setMessage(null);
    try {
      await api(`/v1/budgets/${encodeURIComponent(b.id)}/grants`, { method: "POST", body });
      form.reset();
      await refresh();
    } catch (err) {
      setErrors((err as ApiError).errors);
      setMessage((err as ApiError).message);
    }
  };
  const revoke = async (g: Grant) => {
    await api(`/v1/budgets/${encodeURIComponent(b.id)}/grants/${encodeURIComponent(g.id)}`, { method: "DELETE" });
    await refresh();
  };
  const rows = grants.data?.grants ?? [];
  const err = (path: string) => fieldError(errors, path);
  return (
    <details>
      <summary>
        Grants of {b.id} ({rows.length})
      </summary>
      <Table
        caption={`Live grants of ${b.id}`}
        rows={rows}
        rowKey={(g) => g.id}
        columns={[
          { header: "Member", cell: (g) => g.member ?? "every member" },
          { header: "Amount", cell: (g) => amount(b.metric, g.amount), numeric: true },
          { header: "Expires", cell: (g) => when(new Date(g.expires_at_ms).toISOString()) },
          { header: "Reason", cell: (g) => g.reason ?? "" },
          ...(admin
            ? [
                {
                  header: "Revoke",
                  cell: (g: Grant) => (
                    <button
                      type="button"
                      aria-label={`Revoke grant of ${g.member ?? "every member"}`}
                      onClick={() => revoke(g)}
                    >
                      Revoke
                    </button>
                  ),
                },
              ]
            : []),
        ]}
      />
      {admin && (
        <form onSubmit={grant} aria-label={`Grant on ${b.id}`} noValidate>
          {message && (
            <p role="alert" className="error">
              {message}
            </p>
          )}
          <Field id={`${uid}-member`} label="Grant to member" error={err("member")} hint="empty: every member">
            {(a) => <input {...a} name="member" />}
          </Field>
          <Field id={`${uid}-amount`} label="Grant amount" error={err("amount")} hint="in the budget's unit">
            {(a) => <input {...a} name="amount" inputMode="numeric" />}
          </Field>
          <Field id={`${uid}-hours`} label="Grant for (hours)" error={err("expires_at")}>
            {(a) => <input {...a} name="hours" inputMode="numeric" defaultValue="24" />}
          </Field>
          <Field id={`${uid}-reason`} label="Grant reason" error={err("reason")}>
            {(a) => <input {...a} name="reason" />}
          </Field>
          <button type="submit">Add grant</button>
        </form>
      )}
    </details>
  );
}

/** Assign a user a tier (budgets with that tier apply to the user); admins only, as on the API. */
export function TierForm(props: { session: Session }) {
  const uid = useId();
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const assign = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const f = new FormData(form);
    const text = (name: string) => String(f.get(name) ?? "").trim();
    const body: Record<string, unknown> = { tier: text("tier") };
    if (text("org_id")) body.org_id = text("org_id");
    setErrors([]);
    try {
      if (!text("user"))
        throw Object.assign(new Error("name the user"), { errors: [{ path: "user", message: "is required" }] });
      await api(`/v1/users/${encodeURIComponent(text("user"))}/tier`, { method: "PUT", body });
      setMessage(`User ${text("user")} now carries tier ${text("tier")}.`);
      form.reset();
    } catch (err) {
      setErrors((err as ApiError).errors ?? []);
      setMessage((err as Error).message);
    }
  };
  const err = (path: string) => fieldError(errors, path);
  return (
    <details>
      <summary>Assign a tier</summary>
      <form onSubmit={assign} aria-label="Assign a tier" noValidate>
        {message && <p role="status">{message}</p>}
        <Field id={`${uid}-user`} label="User" error={err("user")}>
          {(a) => <input {...a} name="user" />}
        </Field>
        <Field id={`${uid}-tier`} label="Tier" error={err("tier")}>
          {(a) => <input {...a} name="tier" />}
        </Field>
        {props.session.org_id === null && (
          <Field id={`${uid}-org`} label="Org of the user" error={err("org_id")}>
            {(a) => <input {...a} name="org_id" />}
          </Field>
        )}
        <button type="submit">Assign tier</button>
      </form>
    </details>
  );
}
