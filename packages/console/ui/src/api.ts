/**
 * Every data call of the pages: same origin, the session cookie (sent by
 * the browser, unreadable here), and on unsafe requests the session's CSRF
 * token. The pages never see or keep an API key.
 */
export interface Session {
  key_id: string;
  role: "admin" | "viewer" | "agent";
  org_id: string | null;
  bound_tags: Record<string, string>;
  default_tags: Record<string, string>;
  csrf_token: string;
  expires_at: string;
}

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}

let csrfToken = "";
let onSignedOut: () => void = () => {};

export function useSession(session: Session | null, signedOut: () => void): void {
  csrfToken = session?.csrf_token ?? "";
  onSignedOut = signedOut;
}

async function send<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { accept: "application/json" };
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = csrfToken;
  const res = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => ({}))) as {
    message?: string;
    error?: string;
    errors?: FieldError[];
  };
  if (!res.ok) {
    if (res.status === 401 && url !== "/console/session") onSignedOut();
    const errors = body.errors ?? [];
    const message = body.message ?? (errors.map((e) => `${e.path}: ${e.message}`).join("; ") || `HTTP ${res.status}`);
    throw new ApiError(res.status, message, errors);
  }
  return body as T;
}

/** The public API's route `path` (e.g. /v1/budgets), through the session. */
export function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  return send<T>(`/console/api${path}`, init);
}

/** The URL of a route through the session (for downloads). */
export function apiUrl(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  return `/console/api${path}?${params}`;
}

export const sessionApi = {
  current: () => send<Session>("/console/session"),
  signIn: (key: string) => send<Session>("/console/session", { method: "POST", body: { key } }),
  signOut: () => send<void>("/console/session", { method: "DELETE" }),
};
