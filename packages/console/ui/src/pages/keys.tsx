import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type ApiError, api, type FieldError, type Session } from "../api";
import { Field, fieldError, QueryState, Table } from "../components";
import { Pager, usePagedList } from "../paging";

interface KeyRecord {
  id: string;
  role: string;
  name: string;
  org_id: string | null;
  bound_tags: Record<string, string>;
  default_tags: Record<string, string>;
  created_at: string;
}
const TAGS = ["team_id", "project_id", "user_id", "agent_id"] as const;

function tags(t: Record<string, string>): string {
  return Object.entries(t)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** Keys per page of the Keys page, in id order (the API's paging). */
const KEYS_PER_PAGE = 200;

/** Keys: list, create (the secret is shown once, here), revoke. Admins only, as on the API. */
export function KeysPage(props: { session: Session }) {
  const queries = useQueryClient();
  const admin = props.session.role === "admin";
  const keys = usePagedList<KeyRecord>("keys", KEYS_PER_PAGE, { enabled: admin });
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  if (!admin) return <p>Keys are managed by admins; this session is a viewer's.</p>;

  const create = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const f = new FormData(form);
    const text = (name: string) => String(f.get(name) ?? "").trim();
    const bound: Record<string, string> = {};
    const defaults: Record<string, string> = {};
    for (const tag of TAGS) {
      if (text(`bound_${tag}`)) bound[tag] = text(`bound_${tag}`);
      if (text(`default_${tag}`)) defaults[tag] = text(`default_${tag}`);
    }
    const body: Record<string, unknown> = {
      role: text("role"),
      name: text("name"),
      bound_tags: bound,
      default_tags: defaults,
    };
    if (text("org_id")) body.org_id = text("org_id");
    setErrors([]);
    setMessage(null);
    setCopied(false);
    try {
      const made = await api<KeyRecord & { key: string }>("/v1/keys", { method: "POST", body });
      setCreated({ name: made.name, key: made.key });
      form.reset();
      await queries.invalidateQueries({ queryKey: ["keys"] });
    } catch (err) {
      setErrors((err as ApiError).errors);
      setMessage((err as ApiError).message);
    }
  };
  const revoke = async (k: KeyRecord) => {
    await api(`/v1/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" });
    await queries.invalidateQueries({ queryKey: ["keys"] });
  };
  const err = (path: string) => fieldError(errors, path);

  return (
    <>
      {created && (
        <section aria-labelledby="secret-title" className="secret">
          <h2 id="secret-title">Key {created.name} created</h2>
          <p>Copy it now: it is shown this once and stored only hashed.</p>
          <output aria-label="New API key">{created.key}</output>{" "}
          <button
            type="button"
            onClick={async () => {
              await navigator.clipboard.writeText(created.key).then(
                () => setCopied(true),
                () => setCopied(false),
              );
            }}
          >
            Copy key
          </button>{" "}
          <button type="button" onClick={() => setCreated(null)}>
            Done
          </button>
          {copied && <span role="status">Copied.</span>}
        </section>
      )}
      <form onSubmit={create} aria-labelledby="new-key-title" noValidate>
        <h2 id="new-key-title">New key</h2>
        {message && (
          <p role="alert" className="error">
            {message}
          </p>
        )}
        <Field id="k-role" label="Role" error={err("role")}>
          {(a) => (
            <select {...a} name="role" defaultValue="agent">
              <option>agent</option>
              <option>viewer</option>
              <option>admin</option>
            </select>
          )}
        </Field>
        <Field id="k-name" label="Name" error={err("name")}>
          {(a) => <input {...a} name="name" />}
        </Field>
        {props.session.org_id === null && (
          <Field id="k-org" label="Org (binds the key)" error={err("org_id")}>
            {(a) => <input {...a} name="org_id" />}
          </Field>
        )}
        <fieldset className="grid">
          <legend>Bound tags (constraints)</legend>
          {TAGS.map((t) => (
            <Field key={t} id={`k-bound-${t}`} label={`Bound ${t}`} error={err(`bound_tags.${t}`)}>
              {(a) => <input {...a} name={`bound_${t}`} />}
            </Field>
          ))}
        </fieldset>
        <fieldset className="grid">
          <legend>Default tags (fill in)</legend>
          {TAGS.map((t) => (
            <Field key={t} id={`k-default-${t}`} label={`Default ${t}`} error={err(`default_tags.${t}`)}>
              {(a) => <input {...a} name={`default_${t}`} />}
            </Field>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      <QueryState loading={keys.query.isPending} error={keys.query.error} />
      <Pager label="Key pages" page={keys.page} next={keys.next} previous={keys.previous} />
      <Table
        caption="Live keys"
        rows={keys.items ?? []}
        rowKey={(k) => k.id}
        columns={[
          { header: "Name", cell: (k) => k.name },
          { header: "Role", cell: (k) => k.role },
          { header: "Org", cell: (k) => k.org_id ?? "—" },
          { header: "Bound", cell: (k) => tags(k.bound_tags) },
          { header: "Defaults", cell: (k) => tags(k.default_tags) },
          { header: "Created", cell: (k) => k.created_at.slice(0, 16).replace("T", " ") },
          {
            header: "Revoke",
            cell: (k) => (
              <button type="button" aria-label={`Revoke key ${k.name}`} onClick={() => revoke(k)}>
                Revoke
              </button>
            ),
          },
        ]}
      />
    </>
  );
}
