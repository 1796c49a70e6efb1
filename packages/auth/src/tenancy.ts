import type { DefaultTagField, DefaultTags } from "@tollgate/events";
import type { Principal } from "./key-store";

/**
 * Tenancy rules, in one place (ARCHITECTURE.md "Tenancy"):
 * - A key may be bound to an org (and to a team, project, user, agent).
 *   Bound tags are constraints: a request naming another value is refused.
 *   Default tags only fill in what a request leaves out.
 * - A key whose default tags name an org is bound to that org too, so keys
 *   made before bindings existed are safe without change.
 * - An unbound admin (the bootstrap key, or an admin key the operator made
 *   without an org) is the operator: it sees and changes every org. A bound
 *   admin is its org's admin, and sees nothing of another org.
 */

/** The tags a key may be bound to besides its org. */
export const BINDABLE_TAGS = ["team_id", "project_id", "user_id", "agent_id"] as const satisfies DefaultTagField[];
export type BindableTag = (typeof BINDABLE_TAGS)[number];

/** The org a principal is confined to, or null for the operator (and unbound keys). */
export function orgOf(principal: Principal): string | null {
  return principal.boundTags.org_id ?? null;
}

/** Whether the principal may see or change something that belongs to `org` (null: no org). */
export function mayAccessOrg(principal: Principal, org: string | null | undefined): boolean {
  const bound = orgOf(principal);
  return bound === null || bound === (org ?? null);
}

/**
 * The bound tags a request names otherwise, as field errors: empty when the
 * request keeps to the key's bindings. A tag the request leaves out is not a
 * conflict (the binding fills it in).
 */
export function boundTagConflicts(
  bound: DefaultTags,
  named: Partial<Record<DefaultTagField, string | null | undefined>>,
): Array<{ path: DefaultTagField; message: string }> {
  const conflicts: Array<{ path: DefaultTagField; message: string }> = [];
  for (const field of Object.keys(bound) as DefaultTagField[]) {
    const value = named[field];
    if (value !== undefined && value !== null && value !== bound[field]) {
      conflicts.push({ path: field, message: `this API key is bound to ${field} ${JSON.stringify(bound[field])}` });
    }
  }
  return conflicts;
}

/** The 403 body for a request that names another tenant than its key is bound to. */
export function tenantRefusal(conflicts: ReadonlyArray<{ path: string; message: string }>): {
  error: "forbidden";
  message: string;
  errors: Array<{ path: string; message: string }>;
} {
  return {
    error: "forbidden",
    message: conflicts.map((c) => `${c.path}: ${c.message}`).join("; "),
    errors: [...conflicts],
  };
}
