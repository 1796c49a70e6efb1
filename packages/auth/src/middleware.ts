import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { KeyStore, Principal } from "./key-store";
import type { Role } from "./secrets";
import { sessionPrincipalOf } from "./session-principal";

/** Why a request may not go on: the status, its headers and the `{error, message}` body. */
export interface AuthRefusal {
  status: 401 | 403;
  headers: Record<string, string>;
  body: { error: "unauthorized" | "forbidden"; message: string };
}

/**
 * Who sends this Authorization header, or why they may not: 401 when the key
 * is missing or not valid. Shared by the Express middleware and the direct
 * route of /v1/check, so both answer alike.
 */
export async function principalFromHeader(
  keys: KeyStore,
  header: string | undefined,
): Promise<{ principal: Principal } | { refusal: AuthRefusal }> {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) {
    return {
      refusal: {
        status: 401,
        headers: { "WWW-Authenticate": 'Bearer realm="tollgate"' },
        body: { error: "unauthorized", message: "missing API key: send the header Authorization: Bearer <key>" },
      },
    };
  }
  const principal = await keys.authenticate(match[1] as string);
  if (!principal) {
    return {
      refusal: {
        status: 401,
        headers: { "WWW-Authenticate": 'Bearer realm="tollgate", error="invalid_token"' },
        body: { error: "unauthorized", message: "API key is not valid (unknown, malformed or revoked)" },
      },
    };
  }
  return { principal };
}

/** 403 when the principal's role may not do this (admin may do everything); null when it may. */
export function roleRefusal(principal: Principal, roles: ReadonlyArray<Role>): AuthRefusal | null {
  if (principal.role === "admin" || roles.includes(principal.role)) return null;
  return {
    status: 403,
    headers: {},
    body: {
      error: "forbidden",
      message: `this route needs the role ${roles.join(" or ")}; the key has the role ${principal.role}`,
    },
  };
}

/**
 * Every non-health route runs `authenticate` then `requireRole`. 401 when the
 * key is missing or not valid, 403 when it is valid but its role may not do
 * this. Roles are checked here, on the server, never trusted from the client.
 */
export function authenticate(keys: KeyStore): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    let found: Awaited<ReturnType<typeof principalFromHeader>>;
    try {
      // A console request carries its session's principal instead of a header (see session-principal.ts).
      const signedIn = sessionPrincipalOf(req);
      found = signedIn ? { principal: signedIn } : await principalFromHeader(keys, req.get("authorization"));
    } catch (err) {
      next(err);
      return;
    }
    if ("refusal" in found) {
      res.status(found.refusal.status).set(found.refusal.headers).json(found.refusal.body);
      return;
    }
    res.locals.principal = found.principal;
    next();
  };
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) {
      res.status(401).json({ error: "unauthorized", message: "not authenticated" });
      return;
    }
    const refusal = roleRefusal(principal, roles);
    if (refusal) {
      res.status(refusal.status).json(refusal.body);
      return;
    }
    next();
  };
}

export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error("route mounted without authenticate()");
  return principal;
}
