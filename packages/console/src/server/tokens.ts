import { timingSafeEqual } from "node:crypto";

/** Whether the X-CSRF-Token sent equals the session's, in constant time. */
export function csrfMatches(sent: string | undefined, expected: string): boolean {
  if (sent === undefined) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
