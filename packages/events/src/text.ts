import { isUtf8 } from "node:buffer";
import { z } from "zod";

/**
 * The one rule for text that enters through any route (ARCHITECTURE.md,
 * "Tenancy": every string is well-formed Unicode within a stated length).
 *
 * Well-formed: no lone UTF-16 surrogate ("\ud800" is legal in JSON and in
 * JS strings, but not Unicode). Such a string cannot be written as UTF-8 —
 * chDB refused the whole shared write for it, Avro silently replaced it with
 * U+FFFD, and encodeURIComponent threw while building an id — so it is
 * refused at the edge like any other invalid field, naming the field.
 *
 * Lengths count UTF-16 code units (JavaScript's `length`): an emoji outside
 * the Basic Multilingual Plane counts two. Any other well-formed text — NUL,
 * emoji, CJK, right-to-left, quotes — is valid and travels unchanged.
 */
export const MAX_IDENTIFIER_LENGTH = 256;

export const NOT_WELL_FORMED = "must be well-formed Unicode (it holds a lone UTF-16 surrogate)";

/** Whether a string is well-formed Unicode: Node 20's String.prototype.isWellFormed, which lib ES2023 does not type. */
export function isWellFormedText(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * A zod string that is well-formed and at most `max` long; trimmed and
 * non-empty unless told otherwise. Refinements keep it a ZodString, so a
 * schema may chain more rules (`.regex`, `.optional()`).
 */
export function text(options: { max: number; min?: number; trim?: boolean }) {
  const min = options.min ?? 1;
  let schema = z.string({ error: "must be a string" });
  if (options.trim ?? true) schema = schema.trim();
  schema = schema.refine(isWellFormedText, { error: NOT_WELL_FORMED });
  if (min > 0)
    schema = schema.min(min, { error: min === 1 ? "must not be empty" : `must be at least ${min} characters` });
  return schema.max(options.max, { error: `must be at most ${options.max} characters` });
}

/** An identifier (tags, ids, model and provider names): trimmed, 1–256 characters, well-formed. */
export const identifier = text({ max: MAX_IDENTIFIER_LENGTH });

// A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** What encodeURIComponent leaves as it is. */
const UNRESERVED = /^[A-Za-z0-9\-_.!~*'()]*$/;

/**
 * encodeURIComponent made total: the part of a Redis key or a stored id
 * that a client named. Well-formed text (all that the routes accept) is
 * encoded exactly as encodeURIComponent does, so existing keys keep their
 * names; a lone surrogate, which makes encodeURIComponent throw a URIError,
 * becomes "%u" and its four hex digits — never produced for other input,
 * since "%" itself is encoded as "%25", so no two strings share a key.
 */
export function encodeIdPart(value: string): string {
  // Most ids need no escaping: one cheap test, no copy.
  if (UNRESERVED.test(value)) return value;
  const known = encoded.get(value);
  if (known !== undefined) return known;
  if (encoded.size >= ENCODED_CACHE_SIZE) encoded.clear();
  const result = encodeSlow(value);
  encoded.set(value, result);
  return result;
}

/** Ids repeat (every event of a user names the same user): their encodings are kept, a bounded number. */
const encoded = new Map<string, string>();
const ENCODED_CACHE_SIZE = 10_000;

function encodeSlow(value: string): string {
  if (isWellFormedText(value)) return encodeURIComponent(value);
  let out = "";
  let from = 0;
  for (const match of value.matchAll(LONE_SURROGATE)) {
    out += `${encodeURIComponent(value.slice(from, match.index))}%u${match[0].charCodeAt(0).toString(16).toUpperCase()}`;
    from = match.index + 1;
  }
  return out + encodeURIComponent(value.slice(from));
}

/** The error a JSON body that is not UTF-8 is refused with (400; see toClientError in packages/kit). */
export const NOT_UTF8_BODY = "entity.not.utf8";

/**
 * express.json's `verify`: JSON is UTF-8 (RFC 8259), and bytes that are not
 * would be decoded as U+FFFD without a word — an id silently altered. The
 * whole body is refused (the place of the bad bytes is lost with them).
 */
export function requireUtf8Body(_req: unknown, _res: unknown, body: Buffer): void {
  if (isUtf8(body)) return;
  throw Object.assign(new Error("request body is not UTF-8 (JSON must be)"), { status: 400, type: NOT_UTF8_BODY });
}
