import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Key format: `tgk_<16 hex id>_<43 base64url secret>`. The id finds the
 * record; the 256-bit secret is checked against its stored SHA-256. A fast
 * hash is right here (unlike for passwords): the secret is random, so there
 * is nothing to brute-force from a leaked hash.
 */
export const ROLES = ["admin", "agent", "viewer"] as const;
export type Role = (typeof ROLES)[number];

const KEY_PATTERN = /^tgk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function generateKey(): { id: string; key: string; secretSha256: string } {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, key: `tgk_${id}_${secret}`, secretSha256: sha256Hex(secret) };
}

export function parseKey(key: string): { id: string; secret: string } | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { id: match[1] as string, secret: match[2] as string } : null;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares two hex digests in constant time (both are 64 chars by construction). */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
