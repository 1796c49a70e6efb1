/**
 * Whether a failed write may pass if tried again (transient) or never will
 * for these items (permanent). The one rule every writer uses to decide
 * between retrying a batch and isolating its offending items:
 *
 * - permanent: the store read the items and refused their content —
 *   ClickHouse/chDB parse and type errors (a negative number for a UInt64,
 *   a broken escape), a Redis script's `ERR` reply to its arguments.
 * - transient: everything else — refused or reset connections, timeouts,
 *   a store that is loading, read-only, out of memory or missing a table
 *   (a deployment fault, fixed by an operator, not by skipping data).
 *
 * Unknown errors are transient on purpose: a wrong "transient" blocks a
 * partition until someone looks; a wrong "permanent" drops good usage into
 * the dead-letter topic. Blocking is the recoverable mistake.
 */
export type FailureKind = "transient" | "permanent";

/**
 * ClickHouse error codes that name bad data (src/Common/ErrorCodes.cpp):
 * the same insert fails again however often it is retried.
 */
const PERMANENT_CLICKHOUSE_CODES = new Map<number, string>([
  [6, "CANNOT_PARSE_TEXT"],
  [25, "CANNOT_PARSE_ESCAPE_SEQUENCE"],
  [26, "CANNOT_PARSE_QUOTED_STRING"],
  [27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED"],
  [38, "CANNOT_PARSE_DATE"],
  [41, "CANNOT_PARSE_DATETIME"],
  [53, "TYPE_MISMATCH"],
  [70, "CANNOT_CONVERT_TYPE"],
  [72, "CANNOT_PARSE_NUMBER"],
  [117, "INCORRECT_DATA"],
  [131, "TOO_LARGE_STRING_SIZE"],
  [321, "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"],
  [349, "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN"],
]);
const PERMANENT_CLICKHOUSE_TYPES = new Set(PERMANENT_CLICKHOUSE_CODES.values());

/**
 * "Code: 72. DB::Exception" (current servers, chDB) and "Code: 72, e.displayText()"
 * (18.16, whose replies @clickhouse/client does not parse into a ClickHouseError).
 */
const CLICKHOUSE_CODE_IN_TEXT = /\bCode: (\d+)[.,] (?:e\.displayText\(\) = )?DB::Exception/;

/** Redis `ERR` replies that are about the server's state, not the command's arguments. */
const TRANSIENT_REDIS_ERR = /max number of clients|Connection|timed? ?out|BUSY|LOADING/i;

export function classifyFailure(err: unknown): FailureKind {
  return isPermanent(err, 0) ? "permanent" : "transient";
}

export function isPermanentFailure(err: unknown): boolean {
  return classifyFailure(err) === "permanent";
}

function isPermanent(err: unknown, depth: number): boolean {
  if (err === null || typeof err !== "object" || depth > 4) return false;
  const e = err as { name?: unknown; message?: unknown; code?: unknown; type?: unknown; clickhouseCode?: unknown };
  const message = typeof e.message === "string" ? e.message : "";

  // chDB: ChdbQueryError { clickhouseCode }.
  if (typeof e.clickhouseCode === "number") return PERMANENT_CLICKHOUSE_CODES.has(e.clickhouseCode);
  // A socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT…), also when a client
  // wraps it (fetch's `cause`, an AggregateError of both loopback addresses).
  if (typeof e.code === "string" && /^E[A-Z]+$/.test(e.code)) return false;
  // @clickhouse/client against a current server: ClickHouseError { code: "72", type: "CANNOT_PARSE_NUMBER" }.
  if (typeof e.type === "string" && PERMANENT_CLICKHOUSE_TYPES.has(e.type)) return true;
  if (typeof e.code === "string" && /^\d+$/.test(e.code)) return PERMANENT_CLICKHOUSE_CODES.has(Number(e.code));
  const inText = CLICKHOUSE_CODE_IN_TEXT.exec(message);
  if (inText) return PERMANENT_CLICKHOUSE_CODES.has(Number(inText[1]));

  // ioredis: a ReplyError is Redis answering a command; `ERR …` (a script's
  // redis.error_reply, an argument Redis refuses) and WRONGTYPE are about the
  // command itself. LOADING, BUSY, READONLY, OOM, CLUSTERDOWN… are not ERR.
  if (e.name === "ReplyError") {
    if (/^WRONGTYPE\b/.test(message)) return true;
    return /^ERR\b/.test(message) && !TRANSIENT_REDIS_ERR.test(message);
  }

  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined) return isPermanent(cause, depth + 1);
  return false;
}
