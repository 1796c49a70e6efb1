import { createHash, randomBytes } from "node:crypto";

/**
 * Console sessions: an opaque random id in an HttpOnly cookie, and on the
 * server what it stands for. The store never holds the id itself, only its
 * SHA-256 (a copy of the store — a Redis dump — yields no usable cookie),
 * and never the API key: `keyRef` is KeyStore.sessionRef's id + digest.
 *
 * Two expiries: idle (every use pushes it back) and absolute (from sign-in,
 * never extended). One interface, two stores: memory (embedded mode, one
 * process) and Redis (distributed: any enforcement instance serves any
 * session). Both are held to the same contract by sessions-contract.ts.
 */
export interface SessionRecord {
  /** KeyStore.sessionRef of the key that signed in. */
  keyRef: string;
  /** The anti-CSRF token the pages send back in X-CSRF-Token on unsafe requests. */
  csrf: string;
  createdAtMs: number;
  /** The absolute expiry: createdAtMs + the absolute timeout. */
  expiresAtMs: number;
}

export interface SessionStore {
  /** Keeps a new session under the digest of its id, for `idleMs` unless used. */
  create(digest: string, record: SessionRecord, idleMs: number): Promise<void>;
  /** The live session under `digest` (pushing its idle expiry back), or null when unknown or expired. */
  use(digest: string, idleMs: number, nowMs: number): Promise<SessionRecord | null>;
  delete(digest: string): Promise<void>;
}

/** A new session id (256 random bits, the cookie's value) and the digest the store keys it by. */
export function newSessionId(): { id: string; digest: string } {
  const id = randomBytes(32).toString("base64url");
  return { id, digest: sessionDigest(id) };
}

export function sessionDigest(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

export function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Embedded mode: one process, so memory; expired sessions are dropped when seen or swept. */
export function createMemorySessionStore(): SessionStore & { sweep(nowMs: number): void; size(): number } {
  const sessions = new Map<string, { record: SessionRecord; idleUntilMs: number }>();
  let created = 0;
  const live = (entry: { record: SessionRecord; idleUntilMs: number }, nowMs: number) =>
    nowMs < entry.idleUntilMs && nowMs < entry.record.expiresAtMs;
  return {
    async create(digest, record, idleMs) {
      // Abandoned sessions are dropped as new ones come: memory stays bounded by the sign-ins of one idle period.
      if (++created % 64 === 0) this.sweep(record.createdAtMs);
      sessions.set(digest, { record, idleUntilMs: record.createdAtMs + idleMs });
    },
    async use(digest, idleMs, nowMs) {
      const entry = sessions.get(digest);
      if (!entry) return null;
      if (!live(entry, nowMs)) {
        sessions.delete(digest);
        return null;
      }
      entry.idleUntilMs = nowMs + idleMs;
      return entry.record;
    },
    async delete(digest) {
      sessions.delete(digest);
    },
    sweep(nowMs) {
      for (const [digest, entry] of sessions) if (!live(entry, nowMs)) sessions.delete(digest);
    },
    size: () => sessions.size,
  };
}
