import { gzipSync } from "node:zlib";

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON replies
  body: any;
}

export async function call(
  method: string,
  url: string,
  options: {
    key?: string;
    json?: unknown;
    raw?: string | Buffer;
    contentType?: string;
    gzip?: boolean;
    /** Send the body as a stream: chunked, with no Content-Length. */
    chunked?: boolean;
  } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | Buffer | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers["content-type"] = "application/json";
  }
  if (options.raw !== undefined) body = options.raw;
  if (options.contentType) headers["content-type"] = options.contentType;
  if (options.gzip && body !== undefined) {
    body = gzipSync(body);
    headers["content-encoding"] = "gzip";
  }
  const res = await fetch(url, {
    method,
    headers,
    body: options.chunked && body !== undefined ? new Blob([body]).stream() : body,
    ...(options.chunked ? { duplex: "half" } : {}),
  } as RequestInit);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * The same request plain and gzipped: routes served directly for plain JSON
 * and by Express otherwise must answer both alike.
 */
export async function callPlainAndGzipped(
  method: string,
  url: string,
  options: Parameters<typeof call>[2] = {},
): Promise<[Reply, Reply]> {
  return [await call(method, url, options), await call(method, url, { ...options, gzip: true })];
}
