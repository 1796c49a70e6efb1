import { encodeIdPart, identifier, text } from "@tollgate/events";
import { z } from "zod";

/**
 * Grants: an admin's temporary top-up of a budget, for one member of a
 * wildcard budget or for all of it, until it expires. The effective limit
 * of a budget line is its limit plus the live grants that match it.
 */
export interface Grant {
  id: string;
  budget_id: string;
  /** The member it tops up ("u1" of a user "*" budget); null: the budget as a whole / every member. */
  member: string | null;
  /** In the budget's metric unit (micro-USD for cost_usd). */
  amount: number;
  expires_at_ms: number;
  reason: string | null;
  created_at_ms: number;
}

export const grantInputSchema = z.strictObject({
  member: identifier.optional(),
  amount: z
    .int({ error: "must be a whole number in the budget's unit (micro-USD for cost_usd)" })
    .min(1, { error: "must be ≥ 1" })
    .max(Number.MAX_SAFE_INTEGER),
  expires_at: z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a zone" }),
  reason: text({ max: 500, min: 0, trim: false }).optional(),
});

/** Tier assignments: which tier a user carries, so tier budgets (`"tier": "free"`) apply to them. */
export interface TierAssignment {
  /** `<org>/<user>`, URI-encoded parts. */
  id: string;
  org_id: string | null;
  user_id: string;
  tier: string;
  updated_at_ms: number;
}

export const tierInputSchema = z.strictObject({
  tier: text({ max: 64 }),
  org_id: identifier.optional(),
});

export function tierAssignmentId(orgId: string | null | undefined, userId: string): string {
  return `${encodeIdPart(orgId ?? "")}/${encodeIdPart(userId)}`;
}

/** Live grant amounts by budget and member ("" = every member), for the lines of one decision. */
export function grantedAmount(grants: ReadonlyArray<Grant>, budgetId: string, member: string, nowMs: number): number {
  let sum = 0;
  for (const g of grants) {
    if (g.budget_id === budgetId && g.expires_at_ms > nowMs && (g.member === null || g.member === member))
      sum += g.amount;
  }
  return sum;
}
