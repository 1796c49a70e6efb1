import type { IncomingMessage, ServerResponse } from "node:http";
import type { Request, RequestHandler, Response } from "express";
import type { KeyStore, Principal } from "./key-store";
import { type AuthRefusal, authenticate, principalFromHeader, requireRole, roleRefusal } from "./middleware";
import type { Role } from "./secrets";

/**
 * The security-relevant order of a hot route, written once: key → role →
 * admission. Both paths that serve such a route — the direct node:http one
 * and the Express one — take their steps from here, so they cannot drift.
 * What follows is each route's own and the same on both paths: the body
 * within its limit (readJsonBody / express.json with one constant), then the
 * schema and the tenant checks of each item in the one `answer…` function.
 */
export interface Gate {
  /** The direct path: who may go on, or why not (answered by the caller; a 429 is the admission's). */
  pass(req: IncomingMessage, res: ServerResponse): Promise<{ principal: Principal } | { refusal: GateRefusal }>;
  /** The Express path: the same steps as middleware; `overloaded` answers a refused admission. */
  middleware(overloaded?: (req: Request, res: Response) => void): RequestHandler[];
}

/** A refusal of the gate: the key's (401), the role's (403) or the admission's (429). */
export type GateRefusal = AuthRefusal | { status: 429; headers: Record<string, string>; body: typeof OVERLOADED };

export const OVERLOADED = {
  error: "overloaded",
  message: "at capacity; retry after the Retry-After delay",
} as const;

export function createGate(options: {
  keys: KeyStore;
  roles: ReadonlyArray<Role>;
  /** Backpressure after the key and role, before the body is read: false refuses (see ingest's Admission). */
  admit?: (res: ServerResponse) => boolean;
}): Gate {
  const { keys, roles, admit } = options;
  return {
    async pass(req, res) {
      const found = await principalFromHeader(keys, req.headers.authorization);
      if ("refusal" in found) return found;
      const forbidden = roleRefusal(found.principal, roles);
      if (forbidden) return { refusal: forbidden };
      if (admit && !admit(res)) return { refusal: { status: 429, headers: {}, body: OVERLOADED } };
      return found;
    },
    middleware(overloaded) {
      const steps: RequestHandler[] = [authenticate(keys), requireRole(...roles)];
      if (admit) {
        steps.push((req, res, next) => {
          if (admit(res)) next();
          else if (overloaded) overloaded(req, res);
          else res.status(429).json(OVERLOADED);
        });
      }
      return steps;
    },
  };
}
