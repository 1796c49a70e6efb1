import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { actAsSession, type KeyStore, type Principal } from "@tollgate/auth";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import {
  baseHeaders,
  crossSiteReason,
  isHttps,
  isLoopback,
  PAGE_CSP,
  sessionCookie,
  sessionIdOf,
  UNSAFE_METHODS,
} from "./security";
import { newCsrfToken, newSessionId, type SessionRecord, type SessionStore, sessionDigest } from "./sessions";
import { csrfMatches } from "./tokens";

/** Where the built UI is: dist/assets/console in the bundles (infra/build.ts), else packages/console/dist. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(
  typeof TOLLGATE_BUNDLED !== "undefined"
    ? new URL("../assets/console", import.meta.url)
    : new URL("../../dist", import.meta.url),
);
declare const TOLLGATE_BUNDLED: boolean | undefined;

export interface ConsoleDeps {
  keys: KeyStore;
  sessions: SessionStore;
  /**
   * The API routers the pages' data calls reach, mounted again under
   * /console/api: the very handlers of the public API (enforcement's keys,
   * budgets, usage, webhooks; the reports), so the console has no logic of
   * its own to drift. Only the credential differs: the session, not a header.
   */
  api: Router[];
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  assetsDir?: string;
  clock?: () => number;
}

interface SignedIn {
  digest: string;
  record: SessionRecord;
  principal: Principal;
}

/**
 * The console on the serving service's origin:
 *   GET    /console, /console/*         the pages (index.html, strict CSP)
 *   GET    /console/assets/*            the built scripts and styles
 *   POST   /console/session {key}       sign in: an admin or viewer key for a session cookie
 *   GET    /console/session             who is signed in, and the CSRF token
 *   DELETE /console/session             sign out (the session ends on the server)
 *   *      /console/api/v1/...          the public API's routes, authenticated by the session
 */
export function createConsoleRouter(deps: ConsoleDeps): Router {
  const router = express.Router();
  const now = deps.clock ?? Date.now;
  const idleMs = deps.idleTimeoutSeconds * 1000;
  const absoluteMs = deps.absoluteTimeoutSeconds * 1000;
  const assetsDir = deps.assetsDir ?? DEFAULT_ASSETS_DIR;

  router.use("/console", (_req, res, next) => {
    baseHeaders(res);
    next();
  });

  const noStore = (_req: Request, res: Response, next: NextFunction) => {
    res.set("Cache-Control", "no-store");
    next();
  };
  const refuse = (res: Response, status: 400 | 401 | 403, message: string) => {
    res
      .status(status)
      .json({ error: status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "invalid_request", message });
  };

  /** Resolves the session of the cookie through the KeyStore; unsafe requests also need origin and token. */
  const sessionGate = async (req: Request, res: Response, next: NextFunction) => {
    try {
      const unsafe = UNSAFE_METHODS.has(req.method);
      const crossSite = unsafe ? crossSiteReason(req) : null;
      if (crossSite) return refuse(res, 403, `cross-site request refused: ${crossSite}`);
      const id = sessionIdOf(req);
      if (!id) return refuse(res, 401, "not signed in");
      const digest = sessionDigest(id);
      let record: SessionRecord | null;
      try {
        record = await deps.sessions.use(digest, idleMs, now());
      } catch {
        // Redis down or slow (distributed mode): say so, as /v1/usage does; the cause is not the browser's business.
        res.status(503).set("Retry-After", "1").json({ error: "unavailable", message: "console sessions unavailable" });
        return;
      }
      if (!record) {
        res.set("Set-Cookie", sessionCookie(req, "", 0));
        return refuse(res, 401, "the session has ended: sign in again");
      }
      // The key is read again on every request: a revoked key's sessions end at once.
      const principal = await deps.keys.principalOfSessionRef(record.keyRef);
      if (!principal || principal.role === "agent") {
        await deps.sessions.delete(digest);
        res.set("Set-Cookie", sessionCookie(req, "", 0));
        return refuse(res, 401, "the key of this session is no longer valid: sign in again");
      }
      if (unsafe && !csrfMatches(req.get("x-csrf-token"), record.csrf)) {
        return refuse(res, 403, "missing or wrong X-CSRF-Token");
      }
      // The API routers must see the session only, never a header sent beside it.
      delete req.headers.authorization;
      actAsSession(req, principal);
      res.locals.console = { digest, record, principal } satisfies SignedIn;
      next();
    } catch (err) {
      next(err);
    }
  };

  router.post("/console/session", noStore, express.json({ limit: "4kb" }), async (req, res, next) => {
    try {
      const crossSite = crossSiteReason(req);
      if (crossSite) return refuse(res, 403, `cross-site request refused: ${crossSite}`);
      if (!isHttps(req) && !isLoopback(req)) {
        return refuse(res, 403, "the console signs in over HTTPS only (plain HTTP on localhost only)");
      }
      const key = (req.body as { key?: unknown } | undefined)?.key;
      if (typeof key !== "string" || key.length === 0 || key.length > 512) {
        res.status(400).json({ error: "invalid_request", errors: [{ path: "key", message: "must be an API key" }] });
        return;
      }
      // The same authentication as every API request; the key itself is not kept.
      const principal = await deps.keys.authenticate(key.trim());
      const keyRef = principal ? deps.keys.sessionRef(principal) : null;
      if (!principal || !keyRef) return refuse(res, 401, "API key is not valid (unknown, malformed or revoked)");
      if (principal.role === "agent") {
        return refuse(res, 403, "agent keys cannot sign in to the console: use an admin or viewer key");
      }
      const { id, digest } = newSessionId();
      const createdAtMs = now();
      const record: SessionRecord = {
        keyRef,
        csrf: newCsrfToken(),
        createdAtMs,
        expiresAtMs: createdAtMs + absoluteMs,
      };
      await deps.sessions.create(digest, record, idleMs);
      res.set("Set-Cookie", sessionCookie(req, id, deps.absoluteTimeoutSeconds));
      res.status(201).json(describe(principal, record, idleMs));
    } catch (err) {
      next(err);
    }
  });

  router.get("/console/session", noStore, sessionGate, (_req, res) => {
    const { record, principal } = res.locals.console as SignedIn;
    res.json(describe(principal, record, idleMs));
  });

  router.delete("/console/session", noStore, sessionGate, async (req, res, next) => {
    try {
      await deps.sessions.delete((res.locals.console as SignedIn).digest);
      res.set("Set-Cookie", sessionCookie(req, "", 0));
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });

  router.use("/console/api", noStore, sessionGate, ...deps.api, (req: Request, res: Response) => {
    res.status(404).json({ error: "not_found", message: `no route for ${req.method} ${req.path}` });
  });

  router.use(
    "/console/assets",
    express.static(join(assetsDir, "assets"), { index: false, immutable: true, maxAge: "365d", fallthrough: false }),
  );

  router.get(["/console", "/console/{*page}"], (_req, res) => {
    const index = join(assetsDir, "index.html");
    if (!existsSync(index)) {
      res
        .status(503)
        .type("text/plain")
        .send("The console is not built: run `pnpm build` (it builds packages/console into its dist/).\n");
      return;
    }
    res.set({ "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache" });
    res.type("html").send(readFileSync(index));
  });
  return router;
}

/** What the pages know of the signed-in key: its role and bindings, never the key. */
function describe(principal: Principal, record: SessionRecord, idleMs: number) {
  return {
    key_id: principal.keyId,
    role: principal.role,
    org_id: principal.boundTags.org_id ?? null,
    bound_tags: principal.boundTags,
    default_tags: principal.defaultTags,
    csrf_token: record.csrf,
    expires_at: new Date(record.expiresAtMs).toISOString(),
    idle_timeout_s: idleMs / 1000,
  };
}

/** The console router with the settings of consoleEnvShape (what each serving service's main.ts calls). */
export function consoleFromEnv(
  env: { TOLLGATE_CONSOLE_IDLE_TIMEOUT_SECONDS: number; TOLLGATE_CONSOLE_ABSOLUTE_TIMEOUT_SECONDS: number },
  deps: Pick<ConsoleDeps, "keys" | "sessions" | "api">,
): Router {
  return createConsoleRouter({
    ...deps,
    idleTimeoutSeconds: env.TOLLGATE_CONSOLE_IDLE_TIMEOUT_SECONDS,
    absoluteTimeoutSeconds: env.TOLLGATE_CONSOLE_ABSOLUTE_TIMEOUT_SECONDS,
  });
}
