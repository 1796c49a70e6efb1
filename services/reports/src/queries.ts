import { identifier, MAX_IDENTIFIER_LENGTH, text } from "@tollgate/events";
import type { SqlParams, SqlStore } from "@tollgate/sql";
import { z } from "zod";

/**
 * The reports, as named queries over the rollups (spend, top) and the raw
 * table (per-task and per-session figures, which need session ids).
 * Identifiers (the dimension, the table) come only from the enums below;
 * every value is a bound parameter — nothing a caller sends is spliced in.
 * Money stays integer micro-USD: averages are integer divisions.
 */
export const DIMENSIONS = ["org", "team", "project", "user", "agent", "model", "feature", "task_type"] as const;
export type Dimension = (typeof DIMENSIONS)[number];
const COLUMN: Record<Dimension, string> = {
  org: "org_id",
  team: "team_id",
  project: "project_id",
  user: "user_id",
  agent: "agent_id",
  model: "model",
  feature: "feature",
  task_type: "task_type",
};

/**
 * The top report's dimensions: the rollups' and `session`. Sessions are too
 * many to roll up (a row per session per hour would be about the raw table),
 * so top by session reads the raw events, over a range of at most
 * SESSION_RANGE_DAYS: the last step of a drill-down (project → agent → user
 * → session), where the filters keep the rows few.
 */
export const TOP_DIMENSIONS = [...DIMENSIONS, "session"] as const;
export type TopDimension = (typeof TOP_DIMENSIONS)[number];
export const SESSION_RANGE_DAYS = 31;

/** Columns of report rows that hold text (the period and tag values), never to be read as numbers. */
export const TEXT_COLUMNS: ReadonlySet<string> = new Set([
  "period",
  ...TOP_DIMENSIONS,
  ...Object.values(COLUMN),
  "session_id",
]);

const tag = identifier;
const FILTERS = ["team_id", "project_id", "user_id", "agent_id", "model", "feature", "task_type"] as const;

/** Without `to` a report runs up to now; without `from`, over the 30 days before `to`. */
export const DEFAULT_RANGE_DAYS = 30;

function withDefaultRange(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null) return raw;
  const query = raw as Record<string, unknown>;
  if (query.from !== undefined && query.to !== undefined) return raw;
  const to = query.to ?? new Date().toISOString();
  // A malformed `to` is left for the schema to name; `from` then stays absent and is named too.
  const toMs = typeof to === "string" ? Date.parse(to) : Number.NaN;
  const fromDate = new Date(toMs - DEFAULT_RANGE_DAYS * 86_400_000); // invalid (NaN) past the Date range: never thrown
  const from = query.from ?? (Number.isNaN(fromDate.getTime()) ? undefined : fromDate.toISOString());
  return { ...query, from, to };
}

export const rangeSchema = z.preprocess(
  withDefaultRange,
  z
    .object({
      // Absent: every org the key may read; empty: the events without an org.
      org_id: text({ max: MAX_IDENTIFIER_LENGTH, min: 0, trim: false }).optional(),
      from: z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a zone" }),
      to: z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a zone" }),
      ...Object.fromEntries(FILTERS.map((f) => [f, tag.optional()])),
      format: z.enum(["json", "csv"], { error: "must be json or csv" }).default("json"),
    })
    .refine((q) => Date.parse(q.to) > Date.parse(q.from), { path: ["to"], error: "must be after from" })
    .refine((q) => Date.parse(q.to) - Date.parse(q.from) <= 400 * 86_400_000, {
      path: ["to"],
      error: "the range may span at most 400 days",
    }),
);

export const spendSchema = rangeSchema.and(
  z.object({
    group_by: z.enum(DIMENSIONS, { error: `must be one of ${DIMENSIONS.join(", ")}` }).default("project"),
    granularity: z.enum(["hour", "day", "month"], { error: "must be hour, day or month" }).default("day"),
  }),
);
export const topSchema = rangeSchema
  .and(
    z.object({
      by: z.enum(TOP_DIMENSIONS, { error: `must be one of ${TOP_DIMENSIONS.join(", ")}` }).default("user"),
      limit: z.coerce.number().int().min(1).max(1_000).default(10),
    }),
  )
  .refine((q) => q.by !== "session" || Date.parse(q.to) - Date.parse(q.from) <= SESSION_RANGE_DAYS * 86_400_000, {
    path: ["to"],
    error: `by session, the range may span at most ${SESSION_RANGE_DAYS} days`,
  });

type Range = z.infer<typeof rangeSchema> & Record<string, unknown>;

/** WHERE clause and parameters shared by every report: the org, the time range, the filters. */
function where(range: Range, timeColumn: string, timeType: "DateTime" | "Date"): { sql: string; params: SqlParams } {
  // Rollups cannot split their periods: hours and days count when the range
  // touches them (from 13:30 includes the 13:00 hour; to 05:45 the 05:00 hour).
  // Raw times (efficacy, unit economics): [from, to) to the second.
  const clauses = [
    `${timeColumn} >= {from:${timeType}}`,
    timeType === "Date" ? `${timeColumn} <= {to:Date}` : `${timeColumn} < {to:DateTime}`,
  ];
  const params: Record<string, string | number> = {
    from: timeColumn === "hour" ? Math.floor(Date.parse(range.from) / 3_600_000) * 3_600_000 : Date.parse(range.from),
    to: timeType === "Date" ? Date.parse(range.to) - 1 : Date.parse(range.to),
  };
  // No org named: every org (the operator's view; a bound key always names its own).
  if (range.org_id !== undefined) {
    clauses.unshift("org_id = {org:String}");
    params.org = range.org_id;
  }
  for (const filter of FILTERS) {
    const value = range[filter];
    if (typeof value === "string") {
      clauses.push(`${filter} = {${filter}:String}`);
      params[filter] = value;
    }
  }
  return { sql: clauses.join(" AND "), params };
}

/**
 * The columns of each report, in order: a CSV of no rows still has its header.
 * `unsettled_*`: how much of `requests` and `cost_micro_usd` are charges for
 * reservations that expired unreported (estimates; see on_unsettled).
 */
const MEASURE_COLUMNS = [
  "requests",
  "input_tokens",
  "output_tokens",
  "total_tokens",
  "cost_micro_usd",
  "unsettled_requests",
  "unsettled_cost_micro_usd",
];
export const COLUMNS = {
  spend: (q: { group_by: Dimension }) => ["period", q.group_by, ...MEASURE_COLUMNS],
  top: (q: { by: TopDimension }) => [q.by, ...MEASURE_COLUMNS],
  efficacy: () => [
    "user_id",
    "sessions",
    "requests",
    "total_tokens",
    "cost_micro_usd",
    "tokens_per_session",
    "cost_micro_usd_per_session",
  ],
  unitEconomics: () => ["task_type", "tasks", "avg_cost_micro_usd", "p50_cost_micro_usd", "p90_cost_micro_usd"],
};

const MEASURES = `sum(requests) AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(total_tokens) AS total_tokens, sum(cost_micro_usd) AS cost_micro_usd,
  sum(unsettled_requests) AS unsettled_requests, sum(unsettled_cost_micro_usd) AS unsettled_cost_micro_usd`;

/**
 * A rollup's rows that `whereSql` picks, summed by `keys` (alias → select
 * expression), with its unsettled charges summed the same way beside them:
 * the `_unsettled` table has the same key and only the two unsettled
 * measures (migration 012). Each side reads only the columns it needs and is
 * summed before the union; the caller sums the union again by the same
 * aliases, with MEASURES.
 */
function rollup(table: "usage_hourly" | "usage_daily", whereSql: string, keys: Record<string, string>): string {
  const select = Object.entries(keys)
    .map(([alias, expression]) => `${expression} AS ${alias}`)
    .join(", ");
  const aliases = Object.keys(keys).join(", ");
  const zero = (name: string) => `toUInt64(0) AS ${name}`;
  return `(
    SELECT ${select}, sum(requests) AS requests, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens, sum(cost_micro_usd) AS cost_micro_usd,
           ${zero("unsettled_requests")}, ${zero("unsettled_cost_micro_usd")}
    FROM ${table} WHERE ${whereSql} GROUP BY ${aliases}
    UNION ALL
    SELECT ${select}, ${["requests", "input_tokens", "output_tokens", "total_tokens", "cost_micro_usd"].map(zero).join(", ")},
           sum(unsettled_requests) AS unsettled_requests, sum(unsettled_cost_micro_usd) AS unsettled_cost_micro_usd
    FROM ${table}_unsettled WHERE ${whereSql} GROUP BY ${aliases}
  )`;
}

/** Spend and tokens by one dimension per hour, day or month. */
export function spend(store: SqlStore, q: z.infer<typeof spendSchema>) {
  const hourly = q.granularity === "hour";
  const period = hourly ? "hour" : q.granularity === "day" ? "day" : "toStartOfMonth(day)";
  const w = hourly ? where(q, "hour", "DateTime") : where(q, "day", "Date");
  return store.query(
    `SELECT period, ${q.group_by}, ${MEASURES}
     FROM ${rollup(hourly ? "usage_hourly" : "usage_daily", w.sql, {
       period: `toString(${period})`,
       [q.group_by]: COLUMN[q.group_by],
     })}
     GROUP BY period, ${q.group_by} ORDER BY period, ${q.group_by}`,
    w.params,
  );
}

/** The N biggest spenders by one dimension over the range. */
export function top(store: SqlStore, q: z.infer<typeof topSchema>) {
  if (q.by === "session") return topSessions(store, q);
  const w = where(q, "hour", "DateTime");
  return store.query(
    `SELECT ${q.by}, ${MEASURES}
     FROM ${rollup("usage_hourly", w.sql, { [q.by]: COLUMN[q.by] })}
     GROUP BY ${q.by} ORDER BY cost_micro_usd DESC, ${q.by} LIMIT {limit:UInt32}`,
    { ...w.params, limit: q.limit },
  );
}

/**
 * Top sessions: from the raw events, [from, to) to the second (no hour to
 * round to), each event once. `LIMIT 1 BY` the sorting key collapses
 * duplicates not yet merged away without FINAL, which would read (and
 * merge) every part before the time filter could skip any (see
 * usageEventsSince). Events without a session are the '' row, as an absent
 * tag is in every report.
 */
function topSessions(store: SqlStore, q: z.infer<typeof topSchema>) {
  const w = where(q as Range, "timestamp", "DateTime");
  return store.query(
    `SELECT session_id AS session, count() AS requests, sum(input) AS input_tokens, sum(output) AS output_tokens,
            sum(tokens) AS total_tokens, sum(cost) AS cost_micro_usd,
            countIf(unsettled) AS unsettled_requests, sumIf(cost, unsettled) AS unsettled_cost_micro_usd
     FROM (
       SELECT session_id, input_tokens AS input, output_tokens AS output, total_tokens AS tokens,
              cost_micro_usd AS cost, source = 'unsettled' AS unsettled
       FROM usage_events WHERE ${w.sql}
       LIMIT 1 BY org_id, project_id, user_id, event_id
     )
     GROUP BY session ORDER BY cost_micro_usd DESC, session LIMIT {limit:UInt32}`,
    { ...w.params, limit: q.limit },
  );
}

/** Per-user efficacy: tokens and cost per session (a task or conversation). */
export function efficacy(store: SqlStore, q: z.infer<typeof rangeSchema>) {
  const w = where(q as Range, "timestamp", "DateTime");
  // Aggregates get their own names inside, so no alias shadows a column another aggregate reads.
  return store.query(
    `SELECT user_id, sessions, requests, tokens AS total_tokens, cost AS cost_micro_usd,
            intDiv(tokens, sessions) AS tokens_per_session, intDiv(cost, sessions) AS cost_micro_usd_per_session
     FROM (
       SELECT user_id, uniqExact(session_id) AS sessions, count() AS requests,
              sum(total_tokens) AS tokens, sum(cost_micro_usd) AS cost
       FROM usage_events FINAL WHERE ${w.sql} AND session_id != ''
       GROUP BY user_id
     )
     ORDER BY user_id`,
    w.params,
  );
}

/** Agent unit economics: per task type, the cost of a task (a session) on average, at p50 and at p90. */
export function unitEconomics(store: SqlStore, q: z.infer<typeof rangeSchema>) {
  const w = where(q as Range, "timestamp", "DateTime");
  return store.query(
    `SELECT task_type, count() AS tasks, intDiv(sum(task_cost), count()) AS avg_cost_micro_usd,
            quantileExact(0.5)(task_cost) AS p50_cost_micro_usd, quantileExact(0.9)(task_cost) AS p90_cost_micro_usd
     FROM (
       SELECT task_type, session_id, sum(cost_micro_usd) AS task_cost
       FROM usage_events FINAL WHERE ${w.sql} AND session_id != '' AND task_type != ''
       GROUP BY task_type, session_id
     )
     GROUP BY task_type ORDER BY task_type`,
    w.params,
  );
}
