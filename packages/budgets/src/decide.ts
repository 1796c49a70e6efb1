import type { Action, Metric } from "./definition";
import type { Amounts, Line } from "./plan";

/**
 * The one implementation of the rules, whatever store holds the numbers:
 * given each line's standing, what the request may do. Pure, so Redis and
 * memory decide identically and tests need no store.
 */
export const DECISIONS = ["allow", "warn", "degrade", "throttle", "deny"] as const;
export type Decision = (typeof DECISIONS)[number];
const SEVERITY: Record<Decision, number> = { allow: 0, warn: 1, degrade: 2, throttle: 3, deny: 4 };

const AT_LIMIT: Record<Action, Decision> = { block: "deny", throttle: "throttle", degrade: "degrade", warn: "warn" };

export interface Standing {
  used: number;
  reserved: number;
  /** A window line's usage in its recent-rate slices and the earliest usage among them (null: none). */
  recent?: { used: number; firstAtMs: number | null };
}

export interface CheckRequest {
  model: string | null;
  input_tokens: number;
  max_output_tokens: number;
}

export interface LineOutcome {
  line: Line;
  standing: Standing;
  estimate: number;
  decision: Decision;
  reason: string;
}

export interface Verdict {
  decision: Decision;
  reason: string;
  /** The line that decided (strictest; the widest scope among equals). */
  deciding: LineOutcome | null;
  outcomes: LineOutcome[];
  model: string | null;
  max_output_tokens: number;
  retry_after_s: number | null;
}

/** A request's estimate in each metric: input + the output it may produce, its priced cost, one request. */
export function estimateAmounts(request: CheckRequest, costMicro: number): Amounts {
  return {
    tokens: request.input_tokens + request.max_output_tokens,
    input_tokens: request.input_tokens,
    output_tokens: request.max_output_tokens,
    cost_usd: costMicro,
    requests: 1,
  };
}

/** Lines whose excess stops the request: a reservation is all or nothing against these. */
export function isHard(line: Line): boolean {
  return (
    line.kind !== "window" ||
    line.budget.action === "block" ||
    line.budget.action === "throttle" ||
    hardCeiling(line) !== null
  );
}

/** A degrade or warn window line's final ceiling (hard_limit_pct of its limit), in its unit; null: none. */
export function hardCeiling(line: Line): number | null {
  const pct = line.budget.hard_limit_pct;
  if (line.kind !== "window" || pct === null || pct === undefined) return null;
  if (line.budget.action !== "degrade" && line.budget.action !== "warn") return null;
  return Math.floor((line.limit * pct) / 100);
}

/** What a reservation is judged against: the limit, or a degrade or warn line's final ceiling. */
export function reservationLimit(line: Line): number {
  return hardCeiling(line) ?? line.limit;
}

export function decide(
  request: CheckRequest,
  lines: Line[],
  standings: Standing[],
  estimate: Amounts,
  nowMs: number,
): Verdict {
  const outcomes = lines.map((line, i): LineOutcome => {
    const standing = standings[i] ?? { used: 0, reserved: 0 };
    return {
      line,
      standing,
      estimate: estimate[line.metric],
      ...judge(line, standing, estimate[line.metric], request),
    };
  });

  let deciding: LineOutcome | null = null;
  for (const outcome of outcomes) {
    // Lines come widest scope first, so among equals the widest decides.
    if (!deciding || SEVERITY[outcome.decision] > SEVERITY[deciding.decision]) deciding = outcome;
  }
  const decision = deciding?.decision ?? "allow";

  let model = request.model;
  let maxOutput = request.max_output_tokens;
  for (const o of outcomes) {
    // Output caps apply whatever decides: a per-request cap, or the degrade policy of a degrading budget.
    const cap = o.line.budget.per_request.max_output_tokens;
    if (o.line.kind === "window" && cap !== undefined) maxOutput = Math.min(maxOutput, cap);
    if (o.decision === "degrade" && o.line.budget.degrade) {
      const policy = o.line.budget.degrade;
      if (model && policy.model_map[model]) model = policy.model_map[model] as string;
      if (policy.max_output_tokens !== null) maxOutput = Math.min(maxOutput, policy.max_output_tokens);
    }
  }

  const retryAfter =
    decision === "throttle" || decision === "deny"
      ? (deciding?.line.resetsAtMs ?? null) === null
        ? null
        : Math.max(1, Math.ceil(((deciding?.line.resetsAtMs as number) - nowMs) / 1000))
      : null;

  return {
    decision,
    reason: deciding && decision !== "allow" ? deciding.reason : "within every matching budget",
    deciding: decision === "allow" ? null : deciding,
    outcomes,
    model,
    max_output_tokens: maxOutput,
    retry_after_s: retryAfter,
  };
}

function judge(
  line: Line,
  standing: Standing,
  estimate: number,
  request: CheckRequest,
): Pick<LineOutcome, "decision" | "reason"> {
  const budget = line.budget;
  const name = `budget ${budget.id} (${budget.scope.type} ${line.member})`;
  if (line.kind === "window") {
    const maxIn = budget.per_request.max_input_tokens;
    if (maxIn !== undefined && request.input_tokens > maxIn) {
      return {
        decision: "deny",
        reason: `${name}: ${request.input_tokens} input tokens exceed the per-request limit of ${maxIn}`,
      };
    }
  }
  const projected = standing.used + standing.reserved + estimate;
  const ceiling = hardCeiling(line);
  if (ceiling !== null && projected > ceiling) {
    return {
      decision: "deny",
      reason: `${name}: ${describe(line.metric, standing.used + standing.reserved)} used or held + ${describe(line.metric, estimate)} requested passes its final ceiling of ${budget.hard_limit_pct}% (${describe(line.metric, ceiling)}; limit ${describe(line.metric, line.limit)})`,
    };
  }
  if (projected > line.limit) {
    const decision = line.kind === "window" ? AT_LIMIT[budget.action] : "throttle";
    const what = line.kind === "window" ? `${unit(line.metric)} limit` : `${line.kind.replaceAll("_", " ")} limit`;
    return {
      decision,
      reason: `${name}: ${describe(line.metric, standing.used + standing.reserved)} used or held + ${describe(line.metric, estimate)} requested exceeds the ${what} of ${describe(line.metric, line.limit)}`,
    };
  }
  const soft = budget.soft_limit_pct;
  if (line.kind === "window" && soft !== null && projected * 100 >= line.limit * soft) {
    return {
      decision: "warn",
      reason: `${name}: past the soft limit of ${soft}% (${describe(line.metric, projected)} of ${describe(line.metric, line.limit)})`,
    };
  }
  return { decision: "allow", reason: `${name}: within its limit` };
}

function unit(metric: Metric): string {
  return metric === "cost_usd" ? "cost" : metric.replaceAll("_", " ");
}

function describe(metric: Metric, amount: number): string {
  if (metric === "cost_usd") return `$${(amount / 1_000_000).toFixed(6)}`;
  return `${amount} ${metric.replaceAll("_", " ")}`;
}
