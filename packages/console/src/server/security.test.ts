import type { Request } from "express";
import { describe, expect, it } from "vitest";
import { COOKIE_LOCAL, COOKIE_SECURE, crossSiteReason, isLoopback, sessionCookie, sessionIdOf } from "./security";

/** A request as the helpers read it: headers, TLS, the Host's name. */
function request(headers: Record<string, string>, secure = false): Request {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const host = lower.host ?? "127.0.0.1:8080";
  return {
    secure,
    hostname: host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0],
    get: (name: string) => lower[name.toLowerCase()],
  } as unknown as Request;
}

describe("console security rules", () => {
  it("accepts only this origin's pages for unsafe requests", () => {
    const own = { host: "127.0.0.1:8080" };
    expect(crossSiteReason(request({ ...own, "sec-fetch-site": "same-origin", origin: "http://127.0.0.1:8080" }))).toBe(
      null,
    );
    expect(crossSiteReason(request({ ...own, origin: "http://127.0.0.1:8080" }))).toBe(null);
    // Another port of the same host is the same *site*: SameSite cookies go along, so the origin must decide.
    expect(crossSiteReason(request({ ...own, "sec-fetch-site": "same-site" }))).toMatch(/same-site/);
    expect(crossSiteReason(request({ ...own, origin: "http://127.0.0.1:9999" }))).toMatch(
      /not http:\/\/127.0.0.1:8080/,
    );
    expect(crossSiteReason(request({ ...own, origin: "null" }))).toMatch(/Origin null/);
    expect(crossSiteReason(request(own))).toMatch(/neither/);
    // Behind TLS the page's origin is https.
    const tls = request({ host: "tollgate.example", origin: "https://tollgate.example" }, true);
    expect(crossSiteReason(tls)).toBe(null);
  });

  it("makes the cookie Secure with the __Host- prefix over HTTPS only", () => {
    expect(sessionCookie(request({}), "abc", 60)).toBe(
      `${COOKIE_LOCAL}=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60`,
    );
    const proxied = request({ host: "tollgate.example", "x-forwarded-proto": "https" });
    expect(sessionCookie(proxied, "abc", 60)).toBe(
      `${COOKIE_SECURE}=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure`,
    );
  });

  it("reads the session id of the cookie named for the request's scheme, and no other", () => {
    expect(sessionIdOf(request({ cookie: `a=1; ${COOKIE_LOCAL}=sid; b=2` }))).toBe("sid");
    expect(sessionIdOf(request({ cookie: `${COOKIE_SECURE}=sid` }))).toBeUndefined();
    expect(sessionIdOf(request({ cookie: `${COOKIE_SECURE}=sid` }, true))).toBe("sid");
    expect(sessionIdOf(request({ cookie: `x${COOKIE_LOCAL}=sid` }))).toBeUndefined();
  });

  it("knows loopback hosts", () => {
    for (const host of ["127.0.0.1:8080", "localhost:8080", "app.localhost", "[::1]:8080"]) {
      expect(isLoopback(request({ host })), host).toBe(true);
    }
    for (const host of ["10.0.0.5:8080", "tollgate.example", "127.0.0.1.example.com"]) {
      expect(isLoopback(request({ host })), host).toBe(false);
    }
  });
});
