import type { UsageEvent } from "@tollgate/events";

/**
 * What each report of services/reports must answer for a set of events,
 * computed in plain JS from the events themselves (not from ClickHouse), so
 * a report test compares two independent computations. The rules below are
 * the reports' contract:
 * - hour rows (hourly spend, top): every UTC hour the range touches; day
 *   and month rows: every UTC day the range touches; raw
 *   figures (efficacy, unit economics): the whole-second time in [from, to);
 *   from and to are taken in whole seconds, like ClickHouse's DateTime;
 * - absent tags are '' and are a group of their own;
 * - rows are ordered by period, then by value (byte order, as ClickHouse
 *   compares strings); top by cost descending, then value;
 * - averages are integer divisions; p50/p90 are ClickHouse's quantileExact:
 *   the element at index floor(level × n) of the ascending costs.
 */
export const DIMENSION_FIELDS = {
  org: "org_id",
  team: "team_id",
  project: "project_id",
  user: "user_id",
  agent: "agent_id",
  model: "model",
  feature: "feature",
  task_type: "task_type",
} as const;
export type Dimension = keyof typeof DIMENSION_FIELDS;
export const DIMENSIONS = Object.keys(DIMENSION_FIELDS) as Dimension[];
type Tag = (typeof DIMENSION_FIELDS)[Dimension];
export type Granularity = "hour" | "day" | "month";

export interface ReportRange {
  org: string;
  /** ISO 8601 with a zone, as sent to the API. */
  from: string;
  to: string;
  filters?: Partial<Record<Exclude<Tag, "org_id">, string>>;
}

export type Row = Record<string, string | number>;

const HOUR = 3_600_000;
const DAY = 86_400_000;
const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;
const tag = (e: UsageEvent, field: Tag): string => e[field] ?? "";
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const present = (value: string | null) => value !== null && value !== "";

type Window = "hour" | "day" | "raw";
function selected(events: ReadonlyArray<UsageEvent>, range: ReportRange, window: Window): UsageEvent[] {
  const from = seconds(Date.parse(range.from));
  const to = seconds(Date.parse(range.to));
  const lastDay = Math.floor((Date.parse(range.to) - 1) / DAY);
  const inRange = (ms: number) => {
    if (window === "hour") return Math.floor(ms / HOUR) >= Math.floor(from / HOUR) && Math.floor(ms / HOUR) * HOUR < to;
    if (window === "day") return Math.floor(ms / DAY) >= Math.floor(from / DAY) && Math.floor(ms / DAY) <= lastDay;
    return seconds(ms) >= from && seconds(ms) < to;
  };
  return events.filter(
    (e) =>
      tag(e, "org_id") === range.org &&
      inRange(e.timestamp_ms) &&
      Object.entries(range.filters ?? {}).every(([field, value]) => tag(e, field as Tag) === value),
  );
}

function groupBy(events: ReadonlyArray<UsageEvent>, key: (e: UsageEvent) => string): Map<string, UsageEvent[]> {
  const groups = new Map<string, UsageEvent[]>();
  for (const e of events) {
    const k = key(e);
    const list = groups.get(k);
    if (list) list.push(e);
    else groups.set(k, [e]);
  }
  return groups;
}

const sum = (
  events: ReadonlyArray<UsageEvent>,
  field: "input_tokens" | "output_tokens" | "total_tokens" | "cost_micro_usd",
) => events.reduce((s, e) => s + e[field], 0);

function measures(events: ReadonlyArray<UsageEvent>): Row {
  const unsettled = events.filter((e) => e.source === "unsettled");
  return {
    requests: events.length,
    input_tokens: sum(events, "input_tokens"),
    output_tokens: sum(events, "output_tokens"),
    total_tokens: sum(events, "total_tokens"),
    cost_micro_usd: sum(events, "cost_micro_usd"),
    // Charges for reservations that expired unreported: in the totals above, and apart.
    unsettled_requests: unsettled.length,
    unsettled_cost_micro_usd: sum(unsettled, "cost_micro_usd"),
  };
}

/** How ClickHouse prints the period: toString of the hour's DateTime, the Date, the month's first Date (UTC). */
function period(ms: number, granularity: Granularity): string {
  const iso = new Date(ms).toISOString();
  if (granularity === "hour") return `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00:00`;
  return granularity === "day" ? iso.slice(0, 10) : `${iso.slice(0, 7)}-01`;
}

export function spendOf(
  events: ReadonlyArray<UsageEvent>,
  range: ReportRange,
  dimension: Dimension,
  granularity: Granularity,
): Row[] {
  const field = DIMENSION_FIELDS[dimension];
  const rows = selected(events, range, granularity === "hour" ? "hour" : "day");
  const groups = groupBy(rows, (e) => JSON.stringify([period(e.timestamp_ms, granularity), tag(e, field)]));
  return [...groups.entries()]
    .map(([key, list]) => {
      const [p, value] = JSON.parse(key) as [string, string];
      return { period: p, [dimension]: value, ...measures(list) };
    })
    .sort((a, b) => byBytes(a.period, b.period) || byBytes(String(a[dimension]), String(b[dimension])));
}

export function topOf(events: ReadonlyArray<UsageEvent>, range: ReportRange, by: Dimension, limit: number): Row[] {
  const field = DIMENSION_FIELDS[by];
  const groups = groupBy(selected(events, range, "hour"), (e) => tag(e, field));
  return [...groups.entries()]
    .map(([value, list]) => ({ [by]: value, ...measures(list) }))
    .sort((a, b) => Number(b.cost_micro_usd) - Number(a.cost_micro_usd) || byBytes(String(a[by]), String(b[by])))
    .slice(0, limit);
}

/** Top sessions: from the raw events, [from, to) to the second; events without a session are the '' row. */
export function topSessionsOf(events: ReadonlyArray<UsageEvent>, range: ReportRange, limit: number): Row[] {
  const groups = groupBy(selected(events, range, "raw"), (e) => e.session_id ?? "");
  return [...groups.entries()]
    .map(([session, list]): Row => ({ session, ...measures(list) }))
    .sort(
      (a, b) => Number(b.cost_micro_usd) - Number(a.cost_micro_usd) || byBytes(String(a.session), String(b.session)),
    )
    .slice(0, limit);
}

export function efficacyOf(events: ReadonlyArray<UsageEvent>, range: ReportRange): Row[] {
  const inSessions = selected(events, range, "raw").filter((e) => present(e.session_id));
  return [...groupBy(inSessions, (e) => e.user_id).entries()]
    .sort(([a], [b]) => byBytes(a, b))
    .map(([user, list]) => {
      const sessions = new Set(list.map((e) => e.session_id)).size;
      const tokens = sum(list, "total_tokens");
      const cost = sum(list, "cost_micro_usd");
      return {
        user_id: user,
        sessions,
        requests: list.length,
        total_tokens: tokens,
        cost_micro_usd: cost,
        tokens_per_session: Math.floor(tokens / sessions),
        cost_micro_usd_per_session: Math.floor(cost / sessions),
      };
    });
}

/** ClickHouse's quantileExact(level) over integers: sort, then take index floor(level × n). */
export function quantileExact(level: number, values: ReadonlyArray<number>): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[level < 1 ? Math.floor(level * sorted.length) : sorted.length - 1] as number;
}

export function unitEconomicsOf(events: ReadonlyArray<UsageEvent>, range: ReportRange): Row[] {
  const tasks = selected(events, range, "raw").filter((e) => present(e.session_id) && present(e.task_type));
  const byType = new Map<string, number[]>();
  for (const [key, list] of groupBy(tasks, (e) => JSON.stringify([e.task_type, e.session_id]))) {
    const [taskType] = JSON.parse(key) as [string, string];
    byType.set(taskType, [...(byType.get(taskType) ?? []), sum(list, "cost_micro_usd")]);
  }
  return [...byType.entries()]
    .sort(([a], [b]) => byBytes(a, b))
    .map(([taskType, costs]) => ({
      task_type: taskType,
      tasks: costs.length,
      avg_cost_micro_usd: Math.floor(costs.reduce((s, c) => s + c, 0) / costs.length),
      p50_cost_micro_usd: quantileExact(0.5, costs),
      p90_cost_micro_usd: quantileExact(0.9, costs),
    }));
}

/** RFC 4180 CSV of rows: a header of the row's keys, fields quoted only when they hold a quote, comma or newline. */
export function toCsv(rows: ReadonlyArray<Row>): string {
  if (rows.length === 0) return "";
  const columns = Object.keys(rows[0] as Row);
  const cell = (v: string | number) => {
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [columns, ...rows.map((r) => columns.map((c) => r[c] as string | number))];
  return `${lines.map((line) => line.map(cell).join(",")).join("\n")}\n`;
}
