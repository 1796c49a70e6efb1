import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, api, type FieldError, type Session } from "../api";
import { Field, fieldError } from "../components";
import type { Budget } from "./budgets";

const SCOPES = ["org", "team", "project", "user", "agent", "session", "feature", "model", "key"];
const METRICS = ["tokens", "input_tokens", "output_tokens", "requests", "cost_usd"];
const ACTIONS = ["block", "throttle", "degrade", "warn"];

/** What PUT /v1/budgets/{id} takes, from a stored budget: an edit keeps what the form does not show. */
function toInput(b: Budget): Record<string, unknown> {
  const input: Record<string, unknown> = {
    scope: b.scope,
    metric: b.metric,
    window: b.window,
    limit: b.limit,
    action: b.action,
    alert_thresholds_pct: b.alert_thresholds_pct,
    filter: b.filter,
    per_request: b.per_request,
    rate_limit: b.rate_limit,
  };
  if (b.soft_limit_pct !== null) input.soft_limit_pct = b.soft_limit_pct;
  if (b.degrade) {
    input.degrade = {
      model_map: b.degrade.model_map,
      ...(b.degrade.max_output_tokens !== null ? { max_output_tokens: b.degrade.max_output_tokens } : {}),
    };
  }
  if (b.tier) input.tier = b.tier;
  if (b.org_id) input.org_id = b.org_id;
  if (b.failure_policy) input.failure_policy = b.failure_policy;
  return input;
}

/** A number when the text is one; else the text, so that the API names what is wrong with it. */
function numberOrText(text: string): number | string {
  return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** Create or edit a budget; the API validates, and its errors show next to their fields. */
export function BudgetForm(props: { session: Session; editing: Budget | null; onDone: () => void }) {
  const queries = useQueryClient();
  const b = props.editing;
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [windowType, setWindowType] = useState<string>(b?.window.type ?? "calendar");
  const operator = props.session.org_id === null;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const f = new FormData(event.currentTarget);
    const text = (name: string) => String(f.get(name) ?? "").trim();
    const id = b?.id ?? text("id");
    const window =
      windowType === "calendar"
        ? { type: "calendar", unit: text("unit"), timezone: text("timezone") || "UTC" }
        : windowType === "rolling"
          ? { type: "rolling", seconds: numberOrText(text("seconds")) }
          : { type: "lifetime" };
    const body: Record<string, unknown> = {
      ...(b ? toInput(b) : {}),
      scope: { type: text("scope_type"), id: text("scope_id") },
      metric: text("metric"),
      window,
      limit: numberOrText(text("limit")),
      action: text("action"),
      alert_thresholds_pct: text("alerts")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map(numberOrText),
    };
    if (text("soft") !== "") body.soft_limit_pct = numberOrText(text("soft"));
    else delete body.soft_limit_pct;
    if (operator && text("org_id") !== "") body.org_id = text("org_id");
    setErrors([]);
    setMessage(null);
    try {
      if (id === "") throw new ApiError(400, "the budget needs an id", [{ path: "id", message: "is required" }]);
      await api(`/v1/budgets/${encodeURIComponent(id)}`, { method: "PUT", body });
      await queries.invalidateQueries({ queryKey: ["budgets"] });
      props.onDone();
    } catch (err) {
      const e = err as ApiError;
      setErrors(e.errors ?? []);
      setMessage(e.message);
    }
  };

  const err = (path: string) => fieldError(errors, path);
  return (
    <form className="budget-form" onSubmit={submit} aria-labelledby="budget-form-title" noValidate>
      <h2 id="budget-form-title">{b ? `Edit budget ${b.id}` : "New budget"}</h2>
      {message && (
        <p role="alert" className="error">
          {message}
        </p>
      )}
      {!b && (
        <Field id="bf-id" label="Budget id" error={err("id")} hint="letters, digits, _ . : -">
          {(a) => <input {...a} name="id" />}
        </Field>
      )}
      <Field id="bf-scope-type" label="Scope" error={err("scope.type")}>
        {(a) => (
          <select {...a} name="scope_type" defaultValue={b?.scope.type ?? "user"}>
            {SCOPES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        )}
      </Field>
      <Field id="bf-scope-id" label="Member" error={err("scope.id")} hint='an id, or "*" for each member its own'>
        {(a) => <input {...a} name="scope_id" defaultValue={b?.scope.id ?? "*"} />}
      </Field>
      <Field id="bf-metric" label="Metric" error={err("metric")}>
        {(a) => (
          <select {...a} name="metric" defaultValue={b?.metric ?? "tokens"}>
            {METRICS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        )}
      </Field>
      <Field id="bf-window" label="Window" error={err("window")}>
        {(a) => (
          <select {...a} name="window_type" value={windowType} onChange={(e) => setWindowType(e.target.value)}>
            <option value="calendar">calendar</option>
            <option value="rolling">rolling</option>
            <option value="lifetime">lifetime</option>
          </select>
        )}
      </Field>
      {windowType === "calendar" && (
        <>
          <Field id="bf-unit" label="Calendar unit" error={err("window.unit")}>
            {(a) => (
              <select {...a} name="unit" defaultValue={b?.window.type === "calendar" ? b.window.unit : "day"}>
                <option>day</option>
                <option>week</option>
                <option>month</option>
              </select>
            )}
          </Field>
          <Field id="bf-tz" label="Time zone" error={err("window.timezone")}>
            {(a) => (
              <input {...a} name="timezone" defaultValue={b?.window.type === "calendar" ? b.window.timezone : "UTC"} />
            )}
          </Field>
        </>
      )}
      {windowType === "rolling" && (
        <Field id="bf-seconds" label="Rolling window (seconds)" error={err("window.seconds")}>
          {(a) => (
            <input
              {...a}
              name="seconds"
              inputMode="numeric"
              defaultValue={b?.window.type === "rolling" ? b.window.seconds : 3600}
            />
          )}
        </Field>
      )}
      <Field id="bf-limit" label="Limit" error={err("limit")} hint="micro-USD for cost_usd">
        {(a) => <input {...a} name="limit" inputMode="numeric" defaultValue={b?.limit ?? ""} />}
      </Field>
      <Field id="bf-soft" label="Soft limit (%)" error={err("soft_limit_pct")}>
        {(a) => <input {...a} name="soft" inputMode="numeric" defaultValue={b?.soft_limit_pct ?? ""} />}
      </Field>
      <Field id="bf-action" label="At the limit" error={err("action") ?? err("degrade")}>
        {(a) => (
          <select {...a} name="action" defaultValue={b?.action ?? "block"}>
            {ACTIONS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        )}
      </Field>
      <Field id="bf-alerts" label="Alert thresholds (%)" error={err("alert_thresholds_pct")} hint="comma-separated">
        {(a) => <input {...a} name="alerts" defaultValue={b?.alert_thresholds_pct.join(", ") ?? "80, 100"} />}
      </Field>
      {operator && (
        <Field id="bf-org" label="Org (empty: every org)" error={err("org_id")}>
          {(a) => <input {...a} name="org_id" defaultValue={b?.org_id ?? ""} />}
        </Field>
      )}
      <div className="actions">
        <button type="submit">{b ? "Save budget" : "Create budget"}</button>
        <button type="button" onClick={props.onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
