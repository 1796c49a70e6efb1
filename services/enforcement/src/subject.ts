import { boundTagConflicts, type Principal, tenantRefusal } from "@tollgate/auth";
import type { Subject } from "@tollgate/budgets";
import { DEFAULT_TAG_FIELDS, identifier } from "@tollgate/events";

/** Identity values of a check or a usage query: the shared identifier rule (well-formed, at most 256). */
export const tag = identifier;

/** The identity fields a check or a usage query may name: the same tags an API key may default. */
export const IDENTITY_FIELDS = DEFAULT_TAG_FIELDS;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];

/**
 * The subject a request speaks for: what it names, filled in by the API
 * key's bound and default tags. Bound tags (its org, …) confine every key;
 * an agent key also acts only for the identities its default tags name.
 * Naming another is refused (403), not silently replaced.
 */
export function resolveSubject(
  named: Partial<Record<IdentityField, string>>,
  principal: Principal,
): { subject: Subject } | { forbidden: ReturnType<typeof tenantRefusal> } {
  const { boundTags, defaultTags } = principal;
  const fixed = principal.role === "agent" ? { ...defaultTags, ...boundTags } : boundTags;
  const conflicts = boundTagConflicts(fixed, named);
  if (conflicts.length > 0) return { forbidden: tenantRefusal(conflicts) };
  const subject: Subject = { key_id: principal.keyId };
  for (const field of IDENTITY_FIELDS) subject[field] = named[field] ?? fixed[field] ?? defaultTags[field] ?? null;
  return { subject };
}
