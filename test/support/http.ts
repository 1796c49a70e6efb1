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
  options: { key?: string; json?: unknown; raw?: string | Buffer; contentType?: string; gzip?: boolean } = {},
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
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
