import type { Principal } from "@tollgate/auth";
import type { Subject } from "@tollgate/budgets";
import { DEFAULT_TAG_FIELDS } from "@tollgate/events";
import { z } from "zod";

export const tag = z
  .string({ error: "must be a string" })
  .trim()
  .min(1, { error: "must not be empty" })
  .max(256, { error: "must be at most 256 characters" });

/** The identity fields a check or a usage query may name: the same tags an API key may default. */
export const IDENTITY_FIELDS = DEFAULT_TAG_FIELDS;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];

/**
 * The subject a request speaks for: what it names, filled in by the API
 * key's default tags. An agent key acts only for the identities it is bound
 * to: naming another is refused (403), not silently replaced.
 */
export function resolveSubject(
  named: Partial<Record<IdentityField, string>>,
  principal: Principal,
): { subject: Subject } | { forbidden: string } {
  const subject: Subject = { key_id: principal.keyId };
  const foreign: string[] = [];
  for (const field of IDENTITY_FIELDS) {
    const bound = principal.defaultTags[field];
    const value = named[field];
    if (principal.role === "agent" && bound !== undefined && value !== undefined && value !== bound) {
      foreign.push(`${field}=${value}`);
    }
    subject[field] = value ?? bound ?? null;
  }
  if (foreign.length > 0) return { forbidden: `this agent key does not act for ${foreign.join(", ")}` };
  return { subject };
}
