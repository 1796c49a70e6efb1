import type { DefaultTagField } from "@tollgate/events";
import type { CheckResult } from "./engine";
import type { Subject } from "./plan";

/**
 * The recent decisions of /v1/check that were not a plain allow (deny,
 * throttle, degrade, warn), for people watching: the console's Overview
 * and GET /v1/decisions/recent. One contract, two stores — a capped Redis
 * stream per tenant in distributed mode (every enforcement instance writes
 * to it, so one read shows all of them), a bounded list per tenant in
 * memory in embedded mode — held to the same tests (decision-log-contract.ts).
 *
 * A record is a side effect of a check, never part of it: `record` returns
 * at once, never throws, and drops what it cannot keep. The log is a view
 * of the last minutes, not an audit trail: ClickHouse holds the usage.
 */
export const RECORDED_DECISIONS = ["deny", "throttle", "degrade", "warn"] as const;
export type RecordedDecisionKind = (typeof RECORDED_DECISIONS)[number];

/** Most records kept per tenant (about: Redis trims a stream in whole nodes, `MAXLEN ~`). */
export const DECISIONS_PER_TENANT = 1_000;

/** The identity a record carries: the check's, as decided (bound and default tags filled in). */
export const DECISION_IDENTITY = [
  "org_id",
  "team_id",
  "project_id",
  "user_id",
  "agent_id",
  "session_id",
  "feature",
  "task_type",
] as const satisfies ReadonlyArray<DefaultTagField>;
type IdentityField = (typeof DECISION_IDENTITY)[number];

export type DecisionRecord = {
  /** When it was decided (ISO 8601, UTC). */
  at: string;
  decision: RecordedDecisionKind;
  reason: string;
  /** The budget that decided; null when none did (e.g. counters unavailable with no closed budget). */
  budget_id: string | null;
  /** The model asked for. */
  model: string | null;
  /** The model a degrade answered with; null otherwise. */
  degraded_to: string | null;
} & Record<IdentityField, string | null>;

export interface RecentDecisionsQuery {
  /**
   * The org to read (null: checks without an org); absent: every org that
   * has records — the operator's view.
   */
  org?: string | null;
  /** Only records decided at or after this time. */
  sinceMs: number;
  /** At most this many, newest first. */
  limit: number;
  /** Only records whose identity has these values (a key's bound tags besides its org). */
  match?: Partial<Record<DefaultTagField, string>>;
}

export interface DecisionLog {
  /** Keeps a record, later: returns at once, never throws. */
  record(record: DecisionRecord): void;
  /** The newest records that fit the query, newest first. */
  recent(query: RecentDecisionsQuery): Promise<DecisionRecord[]>;
  /** Resolves once every record given so far is stored or dropped (tests, shutdown). */
  flush(): Promise<void>;
}

/** What a check's outcome leaves in the log: nothing for an allow. */
export function decisionRecordOf(
  subject: Subject,
  result: Pick<CheckResult, "decision" | "reason" | "model">,
  requestedModel: string | null,
  budgetId: string | null,
  nowMs: number,
): DecisionRecord | null {
  if (result.decision === "allow") return null;
  const identity = Object.fromEntries(DECISION_IDENTITY.map((f) => [f, subject[f] || null])) as Record<
    IdentityField,
    string | null
  >;
  return {
    at: new Date(nowMs).toISOString(),
    decision: result.decision,
    reason: result.reason,
    budget_id: budgetId,
    ...identity,
    model: requestedModel,
    degraded_to: result.decision === "degrade" && result.model !== requestedModel ? result.model : null,
  };
}

/** Whether a record is one the query asks for (its org is the store's to choose). */
export function matchesQuery(record: DecisionRecord, query: RecentDecisionsQuery): boolean {
  if (Date.parse(record.at) < query.sinceMs) return false;
  for (const [field, value] of Object.entries(query.match ?? {})) {
    if (value !== undefined && (record as Record<string, unknown>)[field] !== value) return false;
  }
  return true;
}

/** Newest first, then the first `limit`; ties keep their order. */
export function newestFirst(records: DecisionRecord[], limit: number): DecisionRecord[] {
  return records
    .map((r, i) => ({ r, i, at: Date.parse(r.at) }))
    .sort((a, b) => b.at - a.at || a.i - b.i)
    .slice(0, limit)
    .map((x) => x.r);
}

/**
 * Embedded mode: per tenant, the newest DECISIONS_PER_TENANT records in
 * memory; at most `maxTenants` tenants (the one written longest ago goes first).
 */
export function createMemoryDecisionLog(options: { perTenant?: number; maxTenants?: number } = {}): DecisionLog {
  const perTenant = options.perTenant ?? DECISIONS_PER_TENANT;
  const maxTenants = options.maxTenants ?? 10_000;
  // Keyed by org ("" for none); a Map keeps insertion order, so re-inserting on write makes it an LRU.
  const byOrg = new Map<string, DecisionRecord[]>();
  return {
    record(record) {
      const org = record.org_id ?? "";
      const list = byOrg.get(org) ?? [];
      byOrg.delete(org);
      list.push(record);
      // Trimmed in chunks, as a stream trims: a shift per record would be O(n) each time.
      if (list.length > perTenant + Math.ceil(perTenant / 10)) list.splice(0, list.length - perTenant);
      byOrg.set(org, list);
      if (byOrg.size > maxTenants) byOrg.delete(byOrg.keys().next().value as string);
    },
    async recent(query) {
      const lists = query.org === undefined ? [...byOrg.values()] : [byOrg.get(query.org ?? "") ?? []];
      const found: DecisionRecord[] = [];
      for (const list of lists) {
        // Newest at the end: walk back until `limit` fit or the time is passed.
        let kept = 0;
        for (let i = list.length - 1; i >= 0 && kept < query.limit; i--) {
          const record = list[i] as DecisionRecord;
          if (Date.parse(record.at) < query.sinceMs) break;
          if (matchesQuery(record, query)) {
            found.push(record);
            kept++;
          }
        }
      }
      return newestFirst(found, query.limit);
    },
    async flush() {},
  };
}
