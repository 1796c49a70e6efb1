import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { KeyStore, Principal } from "./key-store";
import type { Role } from "./secrets";

/**
 * Every non-health route runs `authenticate` then `requireRole`. 401 when the
 * key is missing or not valid, 403 when it is valid but its role may not do
 * this. Roles are checked here, on the server, never trusted from the client.
 */
export function authenticate(keys: KeyStore): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get("authorization");
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="tollgate"')
        .json({ error: "unauthorized", message: "missing API key: send the header Authorization: Bearer <key>" });
      return;
    }
    let principal: Principal | null;
    try {
      principal = await keys.authenticate(match[1] as string);
    } catch (err) {
      next(err);
      return;
    }
    if (!principal) {
      res
        .status(401)
        .set("WWW-Authenticate", 'Bearer realm="tollgate", error="invalid_token"')
        .json({ error: "unauthorized", message: "API key is not valid (unknown, malformed or revoked)" });
      return;
    }
    res.locals.principal = principal;
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
    // admin may do everything.
    if (principal.role !== "admin" && !roles.includes(principal.role)) {
      res.status(403).json({
        error: "forbidden",
        message: `this route needs the role ${roles.join(" or ")}; the key has the role ${principal.role}`,
      });
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
