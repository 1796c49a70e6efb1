/**
 * Budgets as code. The file is normalised with the server's own schema and
 * `toBudget` (@tollgate/budgets/definition, bundled into the CLI), and so is
 * compared with GET /v1/budgets as the server would store it: defaults filled
 * in (`action: block`, `window.timezone: UTC`, empty `filter`…), `limit_usd`
 * turned into micro-USD, thresholds sorted. Only the server-set `version` and
 * `updated_at_ms` are ignored. Comparing only the fields a file gives would
 * call a budget unchanged after a field was removed from the file, while the
 * PUT would reset it: the diff must say what the PUT does.
 */
import { readFileSync } from "node:fs";
import { BUDGET_BATCH_MAX, BUDGET_ID, type Budget, budgetInputSchema, toBudget } from "@tollgate/budgets/definition";
import { fromZodIssues } from "@tollgate/events";
import { parse as parseYaml } from "yaml";
import { ApiError, CliError, type Client, EXIT, type FieldError, listAll, usageError } from "./http";

type Definition = Record<string, unknown>;

/** A YAML list of definitions with `id`, or a map of id → definition. */
export function readBudgetFile(path: string): Map<string, Definition> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw usageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CliError(`${path}: not valid YAML: ${(err as Error).message}`, EXIT.refused);
  }
  // An empty file holds no budgets (with --prune: delete every budget the key sees, as it says).
  if (doc !== null && doc !== undefined && typeof doc !== "object") {
    throw invalid(path, [{ path: "(root)", message: "must be a list of budgets or a map of id → budget" }]);
  }
  const entries: Array<[unknown, unknown, string]> = Array.isArray(doc)
    ? doc.map((item, i) => {
        const { id, ...rest } = (item ?? {}) as Definition;
        return [id, rest, `[${i}]`];
      })
    : Object.entries(doc ?? {}).map(([id, def]) => [id, def, id]);
  const out = new Map<string, Definition>();
  const errors: FieldError[] = [];
  for (const [id, def, where] of entries) {
    if (typeof id !== "string" || !BUDGET_ID.test(id)) {
      errors.push({ path: `${where}.id`, message: "must be 1-128 characters of letters, digits, _ . : -" });
    } else if (out.has(id)) errors.push({ path: `${where}.id`, message: `duplicate budget id ${id}` });
    else if (!def || typeof def !== "object" || Array.isArray(def)) {
      errors.push({ path: where, message: "must be a budget definition (a map)" });
    } else out.set(id, def as Definition);
  }
  if (errors.length > 0) throw invalid(path, errors);
  return out;
}

const invalid = (path: string, errors: FieldError[]) =>
  new CliError([`${path}: invalid`, ...errors.map((e) => `  ${e.path}: ${e.message}`)].join("\n"), EXIT.refused);

/** The fields the server decides (not the file): never a difference. */
const SERVER_SET = new Set(["id", "version", "updated_at_ms"]);

function comparable(budget: Partial<Budget>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries({ ...budget, org_id: budget.org_id ?? null })) {
    if (!SERVER_SET.has(field) && value !== undefined) out[field] = canonical(value);
  }
  return out;
}

/** JSON with sorted keys and no undefined members: equal definitions give equal strings. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value)
      .filter((k) => (value as Definition)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Definition)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export type Change =
  | { op: "create"; id: string; body: Definition }
  | { op: "update"; id: string; body: Definition; fields: Array<{ field: string; from: string; to: string }> }
  | { op: "unchanged"; id: string }
  | { op: "delete"; id: string }
  | { op: "keep"; id: string };

export function plan(file: Map<string, Definition>, current: Budget[], prune: boolean, path: string): Change[] {
  const byId = new Map(current.map((b) => [b.id, b]));
  const changes: Change[] = [];
  const errors: FieldError[] = [];
  for (const [id, body] of file) {
    const parsed = budgetInputSchema.safeParse(body);
    if (!parsed.success) {
      errors.push(...fromZodIssues(parsed.error.issues, [id]));
      continue;
    }
    const existing = byId.get(id);
    if (!existing) {
      changes.push({ op: "create", id, body });
      continue;
    }
    // The server keeps a budget's org when an update names none: so does the comparison.
    const want = comparable(
      toBudget(id, { ...parsed.data, org_id: parsed.data.org_id ?? existing.org_id ?? undefined }, 0, 0),
    );
    const have = comparable(existing);
    const fields = [...new Set([...Object.keys(want), ...Object.keys(have)])]
      .filter((f) => want[f] !== have[f])
      .sort()
      .map((field) => ({ field, from: have[field] ?? "(none)", to: want[field] ?? "(none)" }));
    changes.push(fields.length > 0 ? { op: "update", id, body, fields } : { op: "unchanged", id });
  }
  if (errors.length > 0) throw invalid(path, errors);
  for (const b of current) if (!file.has(b.id)) changes.push({ op: prune ? "delete" : "keep", id: b.id });
  return changes;
}

const MARK = { create: "+", update: "~", unchanged: "=", delete: "-", keep: "?" } as const;

export function renderPlan(changes: Change[]): string {
  const lines: string[] = [];
  for (const c of changes) {
    if (c.op === "keep") lines.push(`${MARK.keep} ${c.id}: not in the file, kept (--prune deletes it)`);
    else lines.push(`${MARK[c.op]} ${c.op} ${c.id}`);
    if (c.op === "update") for (const f of c.fields) lines.push(`    ${f.field}: ${f.from} → ${f.to}`);
  }
  const count = (op: Change["op"]) => changes.filter((c) => c.op === op).length;
  const pending = count("create") + count("update") + count("delete");
  lines.push(
    pending === 0
      ? "no changes"
      : `${count("create")} to create, ${count("update")} to update, ${count("delete")} to delete, ${count("unchanged")} unchanged`,
  );
  return lines.join("\n");
}

/** POST /v1/budgets:batch's reply (200, or 400 when no item went through). */
interface BatchReply {
  accepted: number;
  rejected: Array<{
    op: "upsert" | "delete";
    index: number;
    id?: string;
    status: number;
    error: string;
    errors: FieldError[];
  }>;
}

type Pending = Extract<Change, { op: "create" | "update" | "delete" }>;

/** One request of at most BUDGET_BATCH_MAX changes; a 400 that carries per-item results is an answer too. */
async function sendBatch(
  client: Client,
  changes: Pending[],
): Promise<{ reply: BatchReply; lists: Record<string, Pending[]> }> {
  const upsert = changes.filter((c): c is Extract<Pending, { body: Definition }> => c.op !== "delete");
  const deletions = changes.filter((c) => c.op === "delete");
  const lists: Record<string, Pending[]> = { upsert, delete: deletions };
  const body = { upsert: upsert.map((c) => ({ ...c.body, id: c.id })), delete: deletions.map((c) => c.id) };
  try {
    return { reply: await client.request<BatchReply>("POST", "/v1/budgets:batch", body), lists };
  } catch (err) {
    const answer = err instanceof ApiError ? (err.body as Partial<BatchReply> | undefined) : undefined;
    if (err instanceof ApiError && err.status === 400 && Array.isArray(answer?.rejected)) {
      return { reply: answer as BatchReply, lists };
    }
    throw err;
  }
}

export async function applyBudgets(
  client: Client,
  opts: { file: string; dryRun: boolean; prune: boolean },
  out: (line: string) => void,
): Promise<void> {
  const file = readBudgetFile(opts.file);
  const budgets = await listAll<Budget>(client, "/v1/budgets", "budgets");
  const changes = plan(file, budgets, opts.prune, opts.file);
  out(renderPlan(changes));
  if (opts.dryRun) {
    out("dry run: nothing applied");
    return;
  }
  const pending = changes.filter((c): c is Pending => c.op === "create" || c.op === "update" || c.op === "delete");
  if (pending.length === 0) return;
  // Through the bulk route, as many per request as it takes: each change is
  // decided alone, so a refused one (another org's id, say) costs none of the others.
  let applied = 0;
  const refused: string[] = [];
  for (let at = 0; at < pending.length; at += BUDGET_BATCH_MAX) {
    let sent: Awaited<ReturnType<typeof sendBatch>>;
    try {
      sent = await sendBatch(client, pending.slice(at, at + BUDGET_BATCH_MAX));
    } catch (err) {
      // The whole request refused (a viewer key) or unanswered: say what the earlier requests did.
      if (err instanceof CliError && applied > 0) {
        throw new CliError(`${err.message}\n${applied} of ${pending.length} changes were applied before`, err.code);
      }
      throw err;
    }
    applied += sent.reply.accepted;
    for (const r of sent.reply.rejected) {
      const change = sent.lists[r.op]?.[r.index];
      refused.push(`${change?.op ?? r.op} ${change?.id ?? r.id ?? `#${r.index}`}: ${r.status} ${r.error}`);
      for (const e of r.errors) refused.push(`    ${e.path}: ${e.message}`);
    }
  }
  if (refused.length === 0) {
    out("applied");
    return;
  }
  out(`applied ${applied} of ${pending.length} changes`);
  const count = pending.length - applied;
  throw new CliError(
    [
      `POST /v1/budgets:batch: ${count} ${count === 1 ? "change" : "changes"} refused`,
      ...refused.map((l) => `  ${l}`),
    ].join("\n"),
    EXIT.refused,
  );
}
