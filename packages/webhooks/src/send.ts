import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { resolveTarget, type UrlPolicy } from "./url-policy";

/** At most this much of an answer is read (the rest is dropped with the connection); a receiver cannot fill our memory. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** What the delivery history keeps of an answer. */
export const RESPONSE_EXCERPT_CHARS = 1024;

export interface SendResult {
  /** 0 when no answer came (refused by policy, DNS, connection, timeout). */
  status: number;
  latencyMs: number;
  error: string;
  response: string;
  /** Retry-After in ms, when the answer carried one. */
  retryAfterMs: number | null;
}

/**
 * One POST, safe by default: the host is resolved and checked here (every
 * attempt, so DNS rebinding is caught) and the socket connects to exactly
 * the checked address (the `lookup` below answers with it), so no second
 * resolution can swap it. Redirects are not followed (node:http never does;
 * a 3xx is a failed attempt). The whole attempt — DNS, connect, TLS, send,
 * answer — has one deadline, so one hanging endpoint costs only its own
 * attempt, never another endpoint's.
 */
export async function sendWebhook(
  rawUrl: string,
  body: string,
  headers: Record<string, string>,
  options: { policy: UrlPolicy; timeoutMs: number },
): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const target = await Promise.race([
      resolveTarget(rawUrl, options.policy),
      new Promise<never>((_, reject) =>
        controller.signal.addEventListener("abort", () => reject(new Error("timed out resolving the host"))),
      ),
    ]);
    const pinned: LookupFunction = (_host, opts, callback) => {
      if ((opts as { all?: boolean }).all) callback(null, [{ address: target.address, family: target.family }]);
      else callback(null, target.address, target.family);
    };
    const transport = target.url.protocol === "https:" ? https : http;
    return await new Promise<SendResult>((resolve) => {
      const request = transport.request(
        target.url,
        {
          method: "POST",
          lookup: pinned,
          signal: controller.signal,
          headers: {
            ...headers,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "user-agent": "Tollgate-Webhooks/1",
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const finish = () => {
            const status = response.statusCode ?? 0;
            resolve({
              status,
              latencyMs: elapsed(),
              error: status >= 200 && status < 300 ? "" : `HTTP ${status}`,
              response: Buffer.concat(chunks).toString("utf8").slice(0, RESPONSE_EXCERPT_CHARS),
              retryAfterMs: retryAfterMs(response.headers["retry-after"]),
            });
          };
          response.on("data", (chunk: Buffer) => {
            if (size >= MAX_RESPONSE_BYTES) return;
            chunks.push(chunk.subarray(0, MAX_RESPONSE_BYTES - size));
            size += chunk.length;
            // Enough read: the status is what counts; stop the transfer rather than wait for the rest.
            if (size >= MAX_RESPONSE_BYTES) {
              response.destroy();
              finish();
            }
          });
          response.on("end", finish);
          // Cut off mid-answer (the deadline, a reset): the status came, so it counts; the excerpt is what arrived.
          response.on("error", finish);
          response.on("close", finish);
        },
      );
      request.on("error", (err) =>
        resolve({
          status: 0,
          latencyMs: elapsed(),
          error: controller.signal.aborted ? `timed out after ${options.timeoutMs} ms` : err.message,
          response: "",
          retryAfterMs: null,
        }),
      );
      request.end(body);
    });
  } catch (err) {
    return {
      status: 0,
      latencyMs: elapsed(),
      error: err instanceof Error ? err.message : String(err),
      response: "",
      retryAfterMs: null,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, nowMs = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}
