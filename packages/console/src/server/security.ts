import type { Request, Response } from "express";

/**
 * The browser-facing rules of the console, in one place.
 *
 * Cookie: HttpOnly (no page script reads it), SameSite=Strict (no other
 * site's page sends it), Path=/. Secure with the `__Host-` prefix (no
 * subdomain or plain-HTTP page can set or shadow it) whenever the request
 * came over HTTPS; without both only on plain-HTTP loopback, where browsers
 * would drop a Secure cookie and nobody else is on the wire.
 */
export const COOKIE_SECURE = "__Host-tollgate_session";
export const COOKIE_LOCAL = "tollgate_session";

/**
 * The pages' Content-Security-Policy: scripts, styles and data calls from
 * this origin only, no inline script or style, no framing, no plugin, no
 * form posting elsewhere. The built UI has no inline code (Vite emits files).
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Set on every console answer: pages, assets, sessions and data. */
export function baseHeaders(res: Response): void {
  res.set({
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
}

/**
 * HTTPS as the browser sees it. X-Forwarded-Proto counts when it says https
 * (a TLS-terminating proxy): believing it can only make the cookie stricter.
 */
export function isHttps(req: Request): boolean {
  return req.secure || req.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase() === "https";
}

export function isLoopback(req: Request): boolean {
  const host = req.hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || host === "127.0.0.1" || host === "[::1]";
}

export function cookieName(req: Request): string {
  return isHttps(req) ? COOKIE_SECURE : COOKIE_LOCAL;
}

/** The Set-Cookie value of a session (or, with an empty id and maxAge 0, of its removal). */
export function sessionCookie(req: Request, id: string, maxAgeSeconds: number): string {
  const parts = [`${cookieName(req)}=${id}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${maxAgeSeconds}`];
  if (isHttps(req)) parts.push("Secure");
  return parts.join("; ");
}

/** The session id the request's cookie carries, if any. */
export function sessionIdOf(req: Request): string | undefined {
  const name = cookieName(req);
  for (const pair of (req.get("cookie") ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/**
 * Why an unsafe request (POST, PUT, PATCH, DELETE) may not be from this
 * origin's pages, or null when it is. Browsers send Sec-Fetch-Site and
 * Origin on every such request; one from another site, or with neither
 * (no browser page of ours makes such a request), is refused. The session
 * routes add the CSRF token on top (double defence: a proxy that strips
 * the headers does not open a hole).
 */
export function crossSiteReason(req: Request): string | null {
  const site = req.get("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") return `Sec-Fetch-Site is ${site}`;
  const origin = req.get("origin");
  const own = `${isHttps(req) ? "https" : "http"}://${req.get("host") ?? ""}`;
  if (origin !== undefined && origin !== own) return `Origin ${origin} is not ${own}`;
  if (site === undefined && origin === undefined) return "neither Origin nor Sec-Fetch-Site is sent";
  return null;
}

export const UNSAFE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);
