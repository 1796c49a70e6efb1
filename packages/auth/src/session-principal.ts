import type { IncomingMessage } from "node:http";
import type { Principal } from "./key-store";

/**
 * The console (packages/console) authenticates a request by its session
 * cookie instead of an Authorization header, then hands it to the same API
 * routers. It resolves the principal through the same KeyStore (the session
 * holds the key's id and a digest, never the key: see KeyStore.sessionRef),
 * and records it here; `authenticate` takes it from here instead of the
 * header, and every later step — role, tenancy, the route's own checks — is
 * the one the API runs. A WeakMap keyed by the request object: only server
 * code can put a principal here, and it goes with the request.
 */
const bySession = new WeakMap<IncomingMessage, Principal>();

/** Marks `req` as made by the signed-in `principal` (the console's session gate only). */
export function actAsSession(req: IncomingMessage, principal: Principal): void {
  bySession.set(req, principal);
}

/** The principal a console session resolved for this request, if any. */
export function sessionPrincipalOf(req: IncomingMessage): Principal | undefined {
  return bySession.get(req);
}
