/**
 * The one place where values enter SQL text. ClickHouse 18.16 (the server on
 * these machines) has no server-side query parameters, so `{name:Type}`
 * placeholders are replaced here by literals of the declared type — strings
 * escaped, numbers checked — and never by concatenating caller text.
 * Identifiers (database names) come only from validated configuration.
 */
export type SqlParam = string | number | bigint | boolean | Date | null | ReadonlyArray<string | number>;
export type SqlParams = Readonly<Record<string, SqlParam>>;

export class SqlBindError extends Error {
  override name = "SqlBindError";
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z0-9_(), ]+)\}/g;

export function bindSql(sql: string, params: SqlParams = {}): string {
  const used = new Set<string>();
  const bound = sql.replace(PLACEHOLDER, (_match, name: string, type: string) => {
    if (!Object.hasOwn(params, name)) throw new SqlBindError(`missing value for parameter ${name}`);
    used.add(name);
    return literal(params[name] as SqlParam, type.trim(), name);
  });
  for (const name of Object.keys(params)) {
    if (!used.has(name)) throw new SqlBindError(`parameter ${name} is not used by the query`);
  }
  return bound;
}

const NEEDS_ESCAPE = /[\\'\0\n\r\t]/;

/** A ClickHouse string literal: backslash and quote escaped, control bytes spelled out. */
export function quoteString(value: string): string {
  return `'${escapeString(value)}'`;
}

/**
 * A value as one field of TabSeparated input: the same escapes as a literal,
 * which is what that format reads (so a tab or newline in a value cannot
 * start a new field or row).
 */
export function tabSeparatedField(value: string): string {
  return escapeString(value);
}

function escapeString(value: string): string {
  // Most values need no escape: one regex test instead of a loop per character (the sink binds 50,000 ids).
  if (!NEEDS_ESCAPE.test(value)) return value;
  let out = "";
  for (const ch of value) {
    switch (ch) {
      case "\\":
        out += "\\\\";
        break;
      case "'":
        out += "\\'";
        break;
      case "\0":
        out += "\\0";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\t":
        out += "\\t";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SqlBindError(`invalid identifier: ${JSON.stringify(name)}`);
  return name;
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65535n],
  UInt32: [0n, 4294967295n],
  UInt64: [0n, 18446744073709551615n],
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-2147483648n, 2147483647n],
  Int64: [-9223372036854775808n, 9223372036854775807n],
};

function literal(value: SqlParam, type: string, name: string): string {
  const nullable = /^Nullable\((.+)\)$/.exec(type);
  if (nullable) return value === null ? "NULL" : literal(value, nullable[1] as string, name);
  if (value === null) throw new SqlBindError(`parameter ${name} is null but ${type} is not Nullable`);

  const array = /^Array\((.+)\)$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) throw new SqlBindError(`parameter ${name} must be an array for ${type}`);
    return `[${value.map((item) => literal(item, array[1] as string, name)).join(", ")}]`;
  }
  if (type === "String") {
    if (typeof value !== "string") throw new SqlBindError(`parameter ${name} must be a string`);
    return quoteString(value);
  }
  const range = INT_RANGES[type];
  if (range) {
    const asBigInt = toBigInt(value, name);
    if (asBigInt < range[0] || asBigInt > range[1])
      throw new SqlBindError(`parameter ${name} is out of range for ${type}`);
    return asBigInt.toString();
  }
  if (type === "DateTime" || type === "Date") {
    const date = value instanceof Date ? value : typeof value === "number" ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) throw new SqlBindError(`parameter ${name} must be a Date or epoch ms`);
    const seconds = Math.floor(date.getTime() / 1000);
    // Epoch seconds are unambiguous whatever the server's time zone.
    return type === "Date" ? `toDate(toDateTime(${seconds}, 'UTC'))` : `toDateTime(${seconds}, 'UTC')`;
  }
  throw new SqlBindError(`parameter ${name} has unsupported type ${type}`);
}

function toBigInt(value: SqlParam, name: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw new SqlBindError(`parameter ${name} must be an integer`);
}
