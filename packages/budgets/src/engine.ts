import { randomUUID } from "node:crypto";
import type { KeyBuilder } from "@tollgate/counters";
import type { UsageEvent } from "@tollgate/events";
import { type CheckRequest, decide, estimateAmounts, isHard, type Standing, type Verdict } from "./decide";
import type { Budget } from "./definition";
import { type Grant, type TierAssignment, tierAssignmentId } from "./grants";
import type { Ledger, LedgerLine } from "./ledger";
import { applicableBudgets, eventAmounts, eventSubject, type Line, linesFor, type Subject, usageKey } from "./plan";

/** How long an applied event id is remembered by the budget ledger. */
export const BUDGET_SEEN_TTL_SECONDS = 62 * 24 * 3600;

export interface BudgetEngineDeps {
  budgets: { all(): Budget[] };
  /** Temporary top-ups (admin grants); none when absent. */
  grants?: { all(): Grant[] };
  /** Tier assignments: the tier a user carries, for tier budgets. */
  tiers?: { get(id: string): TierAssignment | undefined };
  ledger: Ledger;
  keys: KeyBuilder;
  /** Priced estimate of a request in micro-USD; null when the model is unknown. */
  price: (model: string, inputTokens: number, outputTokens: number) => number | null;
  reservationTtlMs: number;
  /** False while the ledger's counters are being rebuilt after a data loss: decide by the failure policy. */
  trusted?: () => boolean;
  /** With the ledger unreachable or slow: allow (open) or deny (closed), unless a budget says otherwise. */
  failurePolicy: "open" | "closed";
  clock?: () => number;
}

export interface BudgetStandingView {
  id: string;
  scope: { type: string; id: string };
  member: string;
  metric: string;
  limit: number;
  used: number;
  reserved: number;
  remaining: number;
  resets_at: string | null;
  limit_kind: Line["kind"];
  decision?: string;
}

export interface CheckResult {
  decision: Verdict["decision"];
  reason: string;
  reservation_id?: string;
  model: string | null;
  max_output_tokens: number;
  retry_after_s?: number;
  resets_at?: string;
  /** The estimate's cost was priced from an unknown model as 0: said, not hidden. */
  cost_estimate_micro_usd: number | null;
  budgets: BudgetStandingView[];
}

/**
 * Budgets, decisions and reservations over one ledger: the same code in
 * both modes (Redis ledger in distributed mode, memory ledger in embedded).
 */
export function createBudgetEngine(deps: BudgetEngineDeps) {
  const clock = deps.clock ?? Date.now;
  const grants = () => deps.grants?.all() ?? [];
  /** A subject's tier comes from the server's assignments, never from what a caller claims. */
  const withTier = (subject: Subject): Subject => {
    if (!deps.tiers || !subject.user_id) return { ...subject, tier: null };
    const assigned =
      deps.tiers.get(tierAssignmentId(subject.org_id, subject.user_id)) ??
      deps.tiers.get(tierAssignmentId(null, subject.user_id));
    return { ...subject, tier: assigned?.tier ?? null };
  };
  const linesOf = (subject: Subject, atMs: number) => {
    const tenant = deps.keys.tenant(subject.org_id);
    return linesFor(deps.keys, tenant, applicableBudgets(deps.budgets.all(), withTier(subject)), atMs, grants());
  };
  const ledgerLines = (lines: Line[], amounts: Record<string, number>): LedgerLine[] =>
    lines.map((line) => ({
      keys: line.keys,
      holdsKeys: line.holdsKeys,
      limit: line.limit,
      amount: amounts[line.metric] ?? 0,
      hard: isHard(line),
      ttlSeconds: line.ttlSeconds,
    }));

  /**
   * The ledger failed (Redis down, or slower than its command timeout): the
   * decision follows the failure policy — a budget's own, else the
   * service's — and says so. Any matching budget that fails closed denies.
   */
  const failed = (lines: Line[], request: CheckRequest, cost: number | null, err: unknown): CheckResult => {
    const closed = lines.filter((l) => (l.budget.failure_policy ?? deps.failurePolicy) === "closed");
    const cause = err instanceof Error ? err.message : String(err);
    const base = { model: request.model, max_output_tokens: request.max_output_tokens, cost_estimate_micro_usd: cost };
    const budgets = lines.map((line) => ({ ...view(line, { used: 0, reserved: 0 }), standing_unknown: true }));
    if (closed.length > 0) {
      const first = closed[0] as Line;
      return {
        ...base,
        decision: "deny",
        reason: `budget counters unavailable (${cause}); budget ${first.budget.id} fails closed`,
        budgets,
      };
    }
    return {
      ...base,
      decision: "allow",
      reason:
        lines.length === 0
          ? "no budget applies"
          : `budget counters unavailable (${cause}); failing open for ${lines.length} budget line(s)`,
      budgets,
    };
  };

  return {
    async check(subject: Subject, request: CheckRequest, reserve: boolean): Promise<CheckResult> {
      const nowMs = clock();
      const tenant = deps.keys.tenant(subject.org_id);
      const lines = linesOf(subject, nowMs);
      const cost = request.model ? deps.price(request.model, request.input_tokens, request.max_output_tokens) : null;
      const estimate = estimateAmounts(request, cost ?? 0);
      const forLedger = ledgerLines(lines, estimate);

      let standings: Standing[];
      let reservationId: string | undefined;
      if (lines.length > 0 && deps.trusted && !deps.trusted()) {
        return failed(lines, request, cost, new Error("counters are being rebuilt after Redis lost its data"));
      }
      try {
        if (reserve && lines.length > 0) {
          const id = newReservationId(subject.org_id ?? null);
          const held = await deps.ledger.reserve(
            forLedger,
            {
              reservationId: id,
              recordKey: deps.keys.reservation(tenant, id),
              expiresAtMs: nowMs + deps.reservationTtlMs,
            },
            nowMs,
          );
          standings = held.standings;
          if (held.held) reservationId = id;
        } else {
          standings = lines.length > 0 ? await deps.ledger.standings(forLedger, nowMs) : [];
        }
      } catch (err) {
        return failed(lines, request, cost, err);
      }

      // Decided on the very numbers the reservation was judged on.
      const verdict = decide(request, lines, standings, estimate, nowMs);
      const result: CheckResult = {
        decision: verdict.decision,
        reason: verdict.reason,
        model: verdict.model,
        max_output_tokens: verdict.max_output_tokens,
        cost_estimate_micro_usd: cost,
        budgets: verdict.outcomes.map((o) => view(o.line, o.standing, o.decision)),
      };
      if (reservationId && verdict.decision !== "deny" && verdict.decision !== "throttle") {
        result.reservation_id = reservationId;
      } else if (reservationId) {
        // Never hold budget for a request that was told no.
        await deps.ledger.release({ recordKey: deps.keys.reservation(tenant, reservationId), reservationId }, nowMs);
      }
      if (verdict.retry_after_s !== null) result.retry_after_s = verdict.retry_after_s;
      const resets = verdict.deciding?.line.resetsAtMs;
      if (verdict.decision !== "allow" && resets) result.resets_at = new Date(resets).toISOString();
      return result;
    },

    /** The standing of every budget that applies to the subject, without reserving. */
    async standing(subject: Subject): Promise<BudgetStandingView[]> {
      const nowMs = clock();
      const lines = linesOf(subject, nowMs);
      if (lines.length === 0) return [];
      const standings = await deps.ledger.standings(ledgerLines(lines, {}), nowMs);
      return lines.map((line, i) => view(line, standings[i] ?? { used: 0, reserved: 0 }));
    },

    /** Counts an event against every budget it belongs to, once, and settles its reservation. */
    async applyEvent(event: UsageEvent): Promise<boolean> {
      const nowMs = clock();
      const tenant = deps.keys.tenant(event.org_id);
      const lines = linesOf(eventSubject(event), event.timestamp_ms);
      const amounts = eventAmounts(event);
      const increments = lines.map((line) => ({
        key: usageKey(deps.keys, tenant, line, event.timestamp_ms),
        amount: amounts[line.metric],
        ttlSeconds: line.ttlSeconds,
      }));
      const reservation = event.reservation_id ? reservationRef(deps.keys, event.reservation_id) : null;
      if (increments.length === 0 && !reservation) return false;
      return deps.ledger.applyUsage(
        { key: deps.keys.seenEvent(tenant, `budgets/${event.event_id}`), ttlSeconds: BUDGET_SEEN_TTL_SECONDS },
        increments,
        reservation,
        nowMs,
      );
    },

    async release(reservationId: string): Promise<boolean> {
      const ref = reservationRef(deps.keys, reservationId);
      return ref ? deps.ledger.release(ref, clock()) : false;
    },
  };
}

export type BudgetEngine = ReturnType<typeof createBudgetEngine>;

function view(line: Line, standing: Standing, decision?: string): BudgetStandingView {
  const out: BudgetStandingView = {
    id: line.budget.id,
    scope: line.budget.scope,
    member: line.member,
    metric: line.metric,
    limit: line.limit,
    used: standing.used,
    reserved: standing.reserved,
    remaining: Math.max(0, line.limit - standing.used - standing.reserved),
    resets_at: line.resetsAtMs === null ? null : new Date(line.resetsAtMs).toISOString(),
    limit_kind: line.kind,
  };
  if (decision) out.decision = decision;
  return out;
}

/**
 * Reservation ids carry their org, so a release or a usage event can find
 * the record in the org's key space without being told the org again.
 */
function newReservationId(orgId: string | null): string {
  return `rsv_${randomUUID().replaceAll("-", "")}_${Buffer.from(orgId ?? "").toString("base64url")}`;
}

function reservationRef(keys: KeyBuilder, reservationId: string): { recordKey: string; reservationId: string } | null {
  const match = /^rsv_[0-9a-f]{32}_([A-Za-z0-9_-]*)$/.exec(reservationId);
  if (!match) return null;
  const org = Buffer.from(match[1] as string, "base64url").toString("utf8");
  return { recordKey: keys.reservation(keys.tenant(org || null), reservationId), reservationId };
}
