import { randomUUID } from "node:crypto";
import { counterBuckets, eventCounterTargets, eventIncrements, type KeyBuilder } from "@tollgate/counters";
import type { LogPosition, UsageEvent } from "@tollgate/events";
import { type AlertRecord, alertsDue, type DueAlert } from "./alerts";
import {
  type CheckRequest,
  decide,
  estimateAmounts,
  isHard,
  reservationLimit,
  type Standing,
  type Verdict,
} from "./decide";
import type { Budget } from "./definition";
import { forecast, RATE_WINDOW } from "./forecast";
import { type Grant, type TierAssignment, tierAssignmentId } from "./grants";
import type { CountedEvent, Ledger, LedgerLine, ReservationRef, UsageIncrement } from "./ledger";
import {
  amountsOf,
  applicableBudgets,
  eventSubject,
  type Line,
  linesFor,
  rateIncrement,
  rateKeysAt,
  type Subject,
  usageKey,
} from "./plan";
import { createPlanCache, type Plan, type PlannedLine } from "./plan-cache";
import { bucketAt } from "./windows";

/**
 * How long a counted event_id is remembered, by default: long enough for a
 * retried report (an agent's or a producer's retry, minutes apart). Replays
 * of the log are recognised by their positions, however late; so only
 * reports retried later than this count twice in Redis or memory (never in
 * ClickHouse, which deduplicates by event_id, nor after a rebuild).
 */
export const DEFAULT_DEDUPE_WINDOW_S = 3600;

/** One empty list, so the grant index made for it is kept (see index-by-scope.ts). */
const NO_GRANTS: Grant[] = [];

/** Events per ledger call. */
const COUNT_CHUNK = 200;

export interface BudgetEngineDeps {
  /**
   * The definitions. The same array while nothing changed, a new one after
   * a change (as ConfigStore.all does): the engine keeps its lookup index
   * per array (index-by-scope.ts), so an array changed in place goes unseen.
   */
  budgets: { all(): Budget[] };
  /** Temporary top-ups (admin grants); none when absent. Same rule as `budgets`. */
  grants?: { all(): Grant[] };
  /** Tier assignments: the tier a user carries, for tier budgets. */
  tiers?: { get(id: string): TierAssignment | undefined };
  ledger: Ledger;
  keys: KeyBuilder;
  /** Priced estimate of a request in micro-USD; null when the model is unknown. */
  price: (model: string, inputTokens: number, outputTokens: number) => number | null;
  reservationTtlMs: number;
  /** How long a counted event_id is remembered (s); DEFAULT_DEDUPE_WINDOW_S when absent. */
  dedupeWindowS?: number;
  /** False while the ledger's counters are being rebuilt after a data loss: decide by the failure policy. */
  trusted?: () => boolean;
  /** With the ledger unreachable or slow: allow (open) or deny (closed), unless a budget says otherwise. */
  failurePolicy: "open" | "closed";
  /** Told each ledger failure: its text is for the logs, never for the client's reason. */
  onLedgerFailure?: (err: unknown) => void;
  /**
   * Told each check's outcome once it is decided, with the budget that
   * decided (the decision log, decision-log.ts). Called before the answer
   * goes back, so it must neither wait nor throw; if it throws, the check
   * is answered all the same.
   */
  onDecision?: (decided: {
    subject: Subject;
    request: CheckRequest;
    result: CheckResult;
    budgetId: string | null;
    nowMs: number;
  }) => void;
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
  /** When the window's limit runs out at the recent rate (see forecast.ts); null when not before it resets. */
  projected_exhaustion_at: string | null;
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
  const plans = createPlanCache();
  const grants = () => deps.grants?.all() ?? NO_GRANTS;
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
      limit: reservationLimit(line),
      amount: amounts[line.metric] ?? 0,
      hard: isHard(line),
      ttlSeconds: line.ttlSeconds,
      // Read in the same script as the standing: a forecast costs no extra round trip,
      // only 12 more HMGETs inside it per window line.
      rateKeys: line.rateKeys,
    }));

  /**
   * The ledger failed (Redis down, or slower than its command timeout): the
   * decision follows the failure policy — a budget's own, else the
   * service's — and says so. Any matching budget that fails closed denies.
   */
  const failed = (
    lines: Line[],
    request: CheckRequest,
    cost: number | null,
    err: unknown,
    nowMs: number,
  ): CheckResult => {
    const closed = lines.filter((l) => (l.budget.failure_policy ?? deps.failurePolicy) === "closed");
    deps.onLedgerFailure?.(err);
    const base = { model: request.model, max_output_tokens: request.max_output_tokens, cost_estimate_micro_usd: cost };
    const budgets = lines.map((line) => ({ ...view(line, { used: 0, reserved: 0 }, nowMs), standing_unknown: true }));
    if (closed.length > 0) {
      const first = closed[0] as Line;
      return {
        ...base,
        decision: "deny",
        reason: `budget counters unavailable; budget ${first.budget.id} fails closed`,
        budgets,
      };
    }
    return {
      ...base,
      decision: "allow",
      reason:
        lines.length === 0
          ? "no budget applies"
          : `budget counters unavailable; failing open for ${lines.length} budget line(s)`,
      budgets,
    };
  };

  /**
   * What an event of this subject, at this time, writes to: its running
   * totals and its budget lines' buckets and rate slices — from the plan
   * cache while it holds (plan-cache.ts), else made and kept.
   */
  const planFor = (tenant: string, event: UsageEvent, nowMs: number): Plan => {
    const subject = withTier(eventSubject(event));
    const unsettled = event.source === "unsettled";
    const name = [
      tenant,
      event.team_id,
      event.project_id,
      event.user_id,
      event.agent_id,
      event.session_id,
      event.feature,
      event.model,
      event.task_type,
      event.provider,
      event.key_id,
      subject.tier,
      unsettled ? "u" : "",
    ].join("\u0000");
    const budgets = deps.budgets.all();
    const buckets = counterBuckets(event, nowMs)
      .map((b) => b.bucket)
      .join(",");
    const cached = plans.get(name, budgets, buckets, event.timestamp_ms);
    if (cached) return cached;
    const atMs = event.timestamp_ms;
    const lines: PlannedLine[] = [];
    for (const line of linesFor(deps.keys, tenant, applicableBudgets(budgets, subject), atMs)) {
      // A budget that lets unsettled reservations lapse is not charged for them.
      if (unsettled && line.budget.on_unsettled === "release") continue;
      // Each window line also counts into its recent-rate slice (forecast.ts), in the same
      // atomic step: per event and window line one more HINCRBY, HGET and EXPIRE (an HSET
      // when the event is the slice's earliest) inside the script — no extra round trip.
      const rate = line.kind === "window" ? rateIncrement(deps.keys, tenant, line, atMs, 0) : null;
      lines.push({
        window: line.window,
        bucket: bucketAt(line.window, atMs),
        key: usageKey(deps.keys, tenant, line, atMs),
        ttlSeconds: line.ttlSeconds,
        metric: line.metric,
        rate: rate
          ? { window: RATE_WINDOW, bucket: bucketAt(RATE_WINDOW, atMs), key: rate.key, ttlSeconds: rate.ttlSeconds }
          : null,
      });
    }
    const plan: Plan = {
      budgets,
      counterBuckets: buckets,
      counters: eventCounterTargets(deps.keys, event, nowMs, tenant),
      lines,
    };
    plans.set(name, plan);
    return plan;
  };

  /** Everything one event adds: its running totals (counters without a limit), then its budget lines. */
  const countedEvent = (
    tenant: string,
    event: UsageEvent,
    position: LogPosition | null,
    nowMs: number,
  ): CountedEvent => {
    const counts = eventIncrements(event);
    const amounts = amountsOf(counts);
    const plan = planFor(tenant, event, nowMs);
    const increments: UsageIncrement[] = [];
    for (const line of plan.lines) {
      const amount = amounts[line.metric];
      increments.push({ key: line.key, amount, ttlSeconds: line.ttlSeconds });
      if (line.rate) {
        increments.push({
          key: line.rate.key,
          amount,
          ttlSeconds: line.rate.ttlSeconds,
          firstAtMs: event.timestamp_ms,
        });
      }
    }
    return {
      markerKey: deps.keys.seenEvent(tenant, event.event_id),
      position,
      counts,
      counters: plan.counters,
      increments,
      reservation: event.reservation_id ? reservationRef(deps.keys, event.reservation_id) : null,
    };
  };

  /**
   * The one counting path: each event into its running totals and every
   * budget it belongs to, settling the reservation it names — one atomic
   * step and one marker per event (Ledger.count), one ledger call per
   * tenant and chunk. Events of one tenant are counted in the order given
   * (positions of a stream must arrive in order); tenants in parallel.
   * Returns, per event, whether it counted (false: counted before).
   */
  const count = async (
    items: ReadonlyArray<{ event: UsageEvent; position?: LogPosition | null }>,
  ): Promise<boolean[]> => {
    const nowMs = clock();
    const byTenant = new Map<string, number[]>();
    items.forEach((item, i) => {
      const tenant = deps.keys.tenant(item.event.org_id);
      const indexes = byTenant.get(tenant) ?? [];
      indexes.push(i);
      byTenant.set(tenant, indexes);
    });
    const counted = new Array<boolean>(items.length).fill(false);
    await Promise.all(
      [...byTenant].map(async ([tenant, indexes]) => {
        // Chunked: one Lua call blocks Redis while it runs; a few hundred events keep it short.
        for (let from = 0; from < indexes.length; from += COUNT_CHUNK) {
          const chunk = indexes.slice(from, from + COUNT_CHUNK);
          const planned = chunk.map((i) => {
            const item = items[i] as { event: UsageEvent; position?: LogPosition | null };
            return countedEvent(tenant, item.event, item.position ?? null, nowMs);
          });
          const result = await deps.ledger.count(
            deps.keys.appliedPositions(tenant),
            planned,
            deps.dedupeWindowS ?? DEFAULT_DEDUPE_WINDOW_S,
            nowMs,
          );
          chunk.forEach((i, k) => {
            counted[i] = result[k] === true;
          });
        }
      }),
    );
    return counted;
  };

  /** The budget that decided each answer still in flight (for onDecision), without widening CheckResult. */
  const decidingBudget = new WeakMap<CheckResult, string>();
  const failedAt = (...args: Parameters<typeof failed>): CheckResult => {
    const result = failed(...args);
    const closed = args[0].find((l) => (l.budget.failure_policy ?? deps.failurePolicy) === "closed");
    if (result.decision === "deny" && closed) decidingBudget.set(result, closed.budget.id);
    return result;
  };

  const checkOnce = async (
    subject: Subject,
    request: CheckRequest,
    reserve: boolean,
    nowMs = clock(),
  ): Promise<CheckResult> => {
    const tenant = deps.keys.tenant(subject.org_id);
    const lines = linesOf(subject, nowMs);
    const cost = request.model ? deps.price(request.model, request.input_tokens, request.max_output_tokens) : null;
    const estimate = estimateAmounts(request, cost ?? 0);
    const forLedger = ledgerLines(lines, estimate);

    let standings: Standing[];
    let reservationId: string | undefined;
    if (lines.length > 0 && deps.trusted && !deps.trusted()) {
      return failedAt(lines, request, cost, new Error("counters are being rebuilt after Redis lost its data"), nowMs);
    }
    let attempted: string | undefined;
    try {
      if (reserve && lines.length > 0) {
        const id = newReservationId(subject.org_id ?? null);
        attempted = id;
        const held = await deps.ledger.reserve(
          forLedger,
          {
            reservationId: id,
            recordKey: deps.keys.reservation(tenant, id),
            unsettled: deps.keys.unsettled(tenant),
            expiresAtMs: nowMs + deps.reservationTtlMs,
            charge: JSON.stringify(chargeOf(subject, request, cost, nowMs)),
          },
          nowMs,
        );
        standings = held.standings;
        if (held.held) reservationId = id;
      } else {
        standings = lines.length > 0 ? await deps.ledger.standings(forLedger, nowMs) : [];
      }
    } catch (err) {
      // A reply that timed out may still have been a hold: the caller gets no reservation id, so
      // nobody would settle it and it would be charged at expiry beside the call's real usage.
      // Released behind it (same connection and slot, so after it; a no-op when nothing was held).
      const ref = attempted ? reservationRef(deps.keys, attempted) : null;
      if (ref) deps.ledger.release(ref, nowMs).catch(() => false);
      return failedAt(lines, request, cost, err, nowMs);
    }

    // Decided on the very numbers the reservation was judged on.
    const verdict = decide(request, lines, standings, estimate, nowMs);
    const result: CheckResult = {
      decision: verdict.decision,
      reason: verdict.reason,
      model: verdict.model,
      max_output_tokens: verdict.max_output_tokens,
      cost_estimate_micro_usd: cost,
      budgets: verdict.outcomes.map((o) => view(o.line, o.standing, nowMs, o.decision)),
    };
    if (reservationId && verdict.decision !== "deny" && verdict.decision !== "throttle") {
      result.reservation_id = reservationId;
    } else if (reservationId) {
      // Never hold budget for a request that was told no.
      const ref = reservationRef(deps.keys, reservationId);
      if (ref) await deps.ledger.release(ref, nowMs);
    }
    if (verdict.retry_after_s !== null) result.retry_after_s = verdict.retry_after_s;
    const resets = verdict.deciding?.line.resetsAtMs;
    if (verdict.decision !== "allow" && resets) result.resets_at = new Date(resets).toISOString();
    if (verdict.deciding && verdict.decision !== "allow") decidingBudget.set(result, verdict.deciding.line.budget.id);
    return result;
  };

  return {
    async check(subject: Subject, request: CheckRequest, reserve: boolean): Promise<CheckResult> {
      if (!deps.onDecision) return checkOnce(subject, request, reserve);
      const nowMs = clock();
      const result = await checkOnce(subject, request, reserve, nowMs);
      try {
        deps.onDecision({ subject, request, result, budgetId: decidingBudget.get(result) ?? null, nowMs });
      } catch {
        // A watcher's trouble is never the caller's: the answer stands.
      }
      return result;
    },

    /** The standing of every budget that applies to the subject, without reserving. */
    async standing(subject: Subject): Promise<BudgetStandingView[]> {
      const nowMs = clock();
      const lines = linesOf(subject, nowMs);
      if (lines.length === 0) return [];
      const standings = await deps.ledger.standings(ledgerLines(lines, {}), nowMs);
      return lines.map((line, i) => view(line, standings[i] ?? { used: 0, reserved: 0 }, nowMs));
    },

    count,

    /** One event through the counting path (tests, tools): see `count`. */
    async applyEvent(event: UsageEvent): Promise<boolean> {
      const [counted] = await count([{ event }]);
      return counted === true;
    },

    /**
     * Alerts for the thresholds the events' budgets have reached, and their
     * exhaustion forecasts, not yet alerted on in their period. At least once: they are handed to
     * `publish` first and marked sent only after it resolves, so a crash in
     * between sends them again (with the same alert_id). Called after the
     * events were applied — also for replayed ones, so an alert lost to a
     * crash still goes out. Each budget member is read once per call.
     */
    async alerts(
      events: ReadonlyArray<UsageEvent>,
      publish: (alerts: AlertRecord[]) => Promise<void>,
    ): Promise<number> {
      const nowMs = clock();
      // Per tenant (one Redis slot per script call), the distinct periods these events landed in.
      const byTenant = new Map<string, Map<string, { line: Line; period: string; eventId: string }>>();
      for (const event of events) {
        const tenant = deps.keys.tenant(event.org_id);
        for (const line of linesOf(eventSubject(event), event.timestamp_ms)) {
          if (line.kind !== "window" || line.budget.alert_thresholds_pct.length === 0) continue;
          const period = line.window.type === "rolling" ? "rolling" : bucketAt(line.window, event.timestamp_ms);
          const lines = byTenant.get(tenant) ?? new Map();
          // The forecast reads the rate of the hour before now, whatever the event's time.
          const current = { ...line, rateKeys: rateKeysAt(deps.keys, tenant, line.budget.id, line.member, nowMs) };
          lines.set(`${line.budget.id}\u0000${line.member}\u0000${period}`, {
            line: current,
            period,
            eventId: event.event_id,
          });
          byTenant.set(tenant, lines);
        }
      }
      const due: DueAlert[] = [];
      for (const [tenant, lines] of byTenant) {
        const found = [...lines.values()];
        const standings = await deps.ledger.standings(
          ledgerLines(
            found.map((f) => f.line),
            {},
          ),
          nowMs,
        );
        found.forEach((f, i) => {
          due.push(...alertsDue(deps.keys, tenant, f, standings[i] ?? { used: 0, reserved: 0 }, nowMs));
        });
      }
      if (due.length === 0) return 0;
      const sent = await deps.ledger.marked(
        due.map((d) => d.key),
        nowMs,
      );
      const fresh = due.filter((_, i) => !sent[i]);
      if (fresh.length === 0) return 0;
      await publish(fresh.map((d) => d.alert));
      await deps.ledger.mark(
        fresh.map((d) => ({ key: d.key, ttlSeconds: d.ttlSeconds })),
        nowMs,
      );
      return fresh.length;
    },

    async release(reservationId: string): Promise<boolean> {
      const ref = reservationRef(deps.keys, reservationId);
      return ref ? deps.ledger.release(ref, clock()) : false;
    },

    /**
     * Reservations past their expiry, neither settled nor released, as the
     * usage events that charge them (their estimate; `source` "unsettled").
     * Publish them, then `postponeUnsettled`: counting such an event settles
     * its reservation, so it is charged once; one published but not yet
     * counted is sent again after the postponement, with the same event_id.
     */
    async unsettled(limit = 500): Promise<{ events: UsageEvent[]; refs: ReservationRef[] }> {
      const nowMs = clock();
      const events: UsageEvent[] = [];
      const refs: ReservationRef[] = [];
      for (const entry of await deps.ledger.expired(nowMs, limit)) {
        const ref = reservationRef(deps.keys, entry.reservationId);
        if (!ref) continue;
        events.push(unsettledEvent(entry.reservationId, JSON.parse(entry.charge) as Charge, nowMs));
        refs.push(ref);
      }
      return { events, refs };
    },

    postponeUnsettled(refs: ReservationRef[], untilMs: number): Promise<void> {
      return deps.ledger.postpone(refs, untilMs);
    },
  };
}

export type BudgetEngine = ReturnType<typeof createBudgetEngine>;

function view(line: Line, standing: Standing, nowMs: number, decision?: string): BudgetStandingView {
  const projected = line.kind === "window" ? forecast(line.limit, standing, line.resetsAtMs, nowMs) : null;
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
    projected_exhaustion_at: projected ? new Date(projected.projectedAtMs).toISOString() : null,
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

/** The org a reservation id was made for (null: no org), or undefined when it is no reservation id. */
export function reservationOrg(reservationId: string): string | null | undefined {
  const match = /^rsv_[0-9a-f]{32}_([A-Za-z0-9_-]*)$/.exec(reservationId);
  if (!match) return undefined;
  return Buffer.from(match[1] as string, "base64url").toString("utf8") || null;
}

function reservationRef(keys: KeyBuilder, reservationId: string): ReservationRef | null {
  const org = reservationOrg(reservationId);
  if (org === undefined) return null;
  const tenant = keys.tenant(org);
  return { recordKey: keys.reservation(tenant, reservationId), reservationId, unsettled: keys.unsettled(tenant) };
}

/** What an expired, unsettled reservation is charged: the event its estimate makes (see unsettledEvent). */
type Charge = Omit<UsageEvent, "event_id" | "received_at_ms" | "reservation_id" | "source" | "cost_source" | "status">;

/** The event that charges an expired, unsettled reservation: its estimate, at the time it was made. */
export function unsettledEvent(reservationId: string, charge: Charge, nowMs: number): UsageEvent {
  return {
    ...charge,
    event_id: `unsettled:${reservationId}`,
    received_at_ms: nowMs,
    reservation_id: reservationId,
    source: "unsettled",
    cost_source: "estimated",
    status: "ok",
  };
}

/** The estimated usage a reservation stands for, kept with it in case it is never settled. */
function chargeOf(subject: Subject, request: CheckRequest, cost: number | null, nowMs: number): Charge {
  return {
    timestamp_ms: nowMs,
    trace_id: null,
    span_id: null,
    org_id: subject.org_id ?? null,
    team_id: subject.team_id ?? null,
    // Required in an event; a check may leave them out: empty (no counter is kept for an empty id).
    project_id: subject.project_id ?? "",
    user_id: subject.user_id ?? "",
    agent_id: subject.agent_id ?? "",
    session_id: subject.session_id ?? null,
    feature: subject.feature ?? null,
    task_type: subject.task_type ?? null,
    provider: subject.provider ?? null,
    model: request.model ?? "",
    input_tokens: request.input_tokens,
    output_tokens: request.max_output_tokens,
    total_tokens: request.input_tokens + request.max_output_tokens,
    cached_input_tokens: 0,
    cache_creation_input_tokens: 0,
    reasoning_tokens: 0,
    cost_micro_usd: cost ?? 0,
    key_id: subject.key_id ?? null,
  };
}
