/**
 * The CLI's one way to talk to Tollgate. Failures become typed errors whose
 * exit code a script can rely on: the API refusing (1), Tollgate not
 * answering (3). Usage errors (2) are raised before any request.
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

export interface FieldError {
  path: string;
  message: string;
}

/** The server's refusal, its field errors printed one per line so a script (or a person) sees which field. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly body: { error?: string; message?: string; errors?: FieldError[] } | undefined,
    what: string,
  ) {
    const lines = [`${what}: ${status} ${body?.error ?? ""}${body?.message ? ` — ${body.message}` : ""}`.trim()];
    for (const e of body?.errors ?? []) lines.push(`  ${e.path || "(body)"}: ${e.message}`);
    super(lines.join("\n"), EXIT.refused);
  }
}

export interface Client {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function createClient(opts: { url: string; key: string; timeoutMs?: number }): Client {
  const base = opts.url.replace(/\/+$/, "");
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const what = `${method} ${path}`;
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${opts.key}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
      } catch (err) {
        // Refused connection, DNS failure or timeout: nothing was decided, so a script may retry.
        const { cause } = err as { cause?: { code?: string; message?: string } };
        const reason = cause?.code ?? cause?.message ?? (err as Error).message;
        throw new CliError(`Tollgate unreachable at ${base} (${reason})`, EXIT.unreachable);
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        parsed = { message: text.slice(0, 500) };
      }
      // A 5xx is Tollgate's own trouble, not a verdict on the request: reported like unreachable.
      if (res.status >= 500) throw new CliError(`${what}: Tollgate answered ${res.status}`, EXIT.unreachable);
      if (!res.ok) throw new ApiError(res.status, parsed as ApiError["body"], what);
      return parsed as T;
    },
  };
}

/** Items per page when the CLI reads a list: the server's largest page. */
const LIST_PAGE = 5_000;

/**
 * Every item of a paged list (GET /v1/budgets, GET /v1/keys: `field` of each
 * page), a page of LIST_PAGE at a time until `next_after` is null: one
 * answer of 100,000 budgets would be 30 MB. A server without pages answers
 * everything and no `next_after`: that is the last page too.
 */
export async function listAll<T>(client: Client, path: string, field: string): Promise<T[]> {
  const items: T[] = [];
  let after: string | null = null;
  for (;;) {
    const query: URLSearchParams = new URLSearchParams({ limit: String(LIST_PAGE) });
    if (after !== null) query.set("after", after);
    const page: Record<string, unknown> = await client.request("GET", `${path}?${query}`);
    items.push(...((page[field] as T[] | undefined) ?? []));
    const next: string | null = typeof page.next_after === "string" ? page.next_after : null;
    // A cursor that does not move on would page forever.
    if (next === null || next === after) return items;
    after = next;
  }
}
