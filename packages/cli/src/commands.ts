/** The commands other than `budgets apply`: each one request, its answer printed as a table or as the API's JSON. */
import type { Client } from "./http";
import { listAll, usageError } from "./http";

type Row = Record<string, unknown>;

/** A plain text table: enough for a terminal, and `--json` is there for scripts. */
export function table(rows: Row[], columns: string[]): string {
  const cell = (v: unknown) =>
    v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

export const json = (value: unknown) => JSON.stringify(value, null, 2);

export async function listBudgets(client: Client, asJson: boolean): Promise<string> {
  // Every page, printed as the unpaged list would be.
  const answer = { budgets: await listAll<Row>(client, "/v1/budgets", "budgets"), next_after: null };
  if (asJson) return json(answer);
  const rows = answer.budgets.map((b) => {
    const scope = b.scope as { type: string; id: string };
    const window = b.window as { type: string; unit?: string; seconds?: number; timezone?: string };
    return {
      ...b,
      scope: `${scope.type}:${scope.id}`,
      window:
        window.type === "calendar"
          ? `${window.unit} (${window.timezone})`
          : window.type === "rolling"
            ? `rolling ${window.seconds}s`
            : window.type,
    };
  });
  return table(rows, ["id", "org_id", "scope", "metric", "window", "limit", "action", "version"]);
}

/** `k=v` pairs of repeated flags (`--bound project_id=p1`) → an object; a malformed pair is a usage error. */
export function pairs(values: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const at = v.indexOf("=");
    if (at <= 0) throw usageError(`--${flag} takes key=value, got ${JSON.stringify(v)}`);
    out[v.slice(0, at)] = v.slice(at + 1);
  }
  return out;
}

export async function createKey(
  client: Client,
  opts: { role?: string; name?: string; org?: string; bound?: string[]; default?: string[] },
): Promise<string> {
  if (!opts.role || !opts.name) throw usageError("keys create needs --role and --name");
  const body = {
    role: opts.role,
    name: opts.name,
    ...(opts.org ? { org_id: opts.org } : {}),
    bound_tags: pairs(opts.bound, "bound"),
    default_tags: pairs(opts.default, "default"),
  };
  // Printed whole: the secret is shown this once.
  return json(await client.request("POST", "/v1/keys", body));
}

export async function listKeys(client: Client, asJson: boolean): Promise<string> {
  const answer = { keys: await listAll<Row>(client, "/v1/keys", "keys"), next_after: null };
  if (asJson) return json(answer);
  return table(answer.keys, ["id", "role", "name", "org_id", "bound_tags", "default_tags", "created_at"]);
}

export async function revokeKey(client: Client, id: string | undefined): Promise<string> {
  if (!id) throw usageError("keys revoke needs the key's id");
  await client.request("DELETE", `/v1/keys/${encodeURIComponent(id)}`);
  return `revoked ${id}`;
}

const IDENTITY_FLAGS = { org: "org_id", team: "team_id", project: "project_id", user: "user_id", agent: "agent_id" };
export const identityOptions = Object.fromEntries(
  [...Object.keys(IDENTITY_FLAGS), "session"].map((f) => [f, { type: "string" as const }]),
);

function identities(opts: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [flag, field] of Object.entries({ ...IDENTITY_FLAGS, session: "session_id" })) {
    if (typeof opts[flag] === "string") out[field] = opts[flag] as string;
  }
  return out;
}

export async function usage(client: Client, opts: Record<string, unknown>): Promise<string> {
  const query = new URLSearchParams(identities(opts));
  if ([...query.keys()].every((k) => k === "org_id")) {
    throw usageError("usage needs --user, --project, --agent, --team or --session");
  }
  return json(await client.request("GET", `/v1/usage?${query}`));
}

export async function check(client: Client, opts: Record<string, unknown>): Promise<string> {
  const int = (flag: string) => {
    const v = opts[flag];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !/^\d+$/.test(v)) throw usageError(`--${flag} takes a whole number`);
    return Number(v);
  };
  if (typeof opts.model !== "string") throw usageError("check needs --model");
  const body = {
    ...identities(opts),
    model: opts.model,
    input_tokens: int("input-tokens"),
    max_output_tokens: int("max-output-tokens"),
  };
  return json(await client.request("POST", "/v1/check", body));
}
