import { isUtf8 } from "node:buffer";
import { z } from "zod";
import { ExportTraceServiceRequest, RawTextTraceRequest } from "./proto";

/**
 * One span of an OTLP trace request, in the shape the usage mapping reads:
 * ids in lowercase hex (as OTLP/JSON writes them), times in epoch ms,
 * attributes flattened to scalars, and the resource attributes beside it.
 */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startTimeMs: number | null;
  endTimeMs: number | null;
  attributes: Attributes;
  resource: Attributes;
  /** Span status ERROR. */
  error: boolean;
  /** Where the span sits in the request, for error messages: "resourceSpans[0].scopeSpans[1].spans[2]". */
  readonly path: string;
  /**
   * Where its first text that is not well-formed Unicode sits, relative to
   * the span ('attributes["user.id"]', 'name', 'resource.attributes[…]'):
   * invalid UTF-8 in protobuf, a lone surrogate in JSON. Such a usage span
   * is rejected naming it, never counted with altered text.
   */
  malformed?: string;
}

/**
 * A span as decoded: its path is spelled out only when an error message or
 * a dead letter asks for it — most spans never need it, and building it for
 * each was a twentieth of decoding.
 */
class DecodedSpan implements OtlpSpan {
  malformed: string | undefined = undefined;
  // Indices of its resourceSpans, scopeSpans and span: private, so JSON.stringify leaves them out.
  readonly #resource: number;
  readonly #scope: number;
  readonly #span: number;

  constructor(
    public traceId: string,
    public spanId: string,
    public parentSpanId: string | null,
    public name: string,
    public startTimeMs: number | null,
    public endTimeMs: number | null,
    public attributes: Attributes,
    public resource: Attributes,
    public error: boolean,
    at: { resource: number; scope: number; span: number },
  ) {
    this.#resource = at.resource;
    this.#scope = at.scope;
    this.#span = at.span;
  }

  get path(): string {
    return `resourceSpans[${this.#resource}].scopeSpans[${this.#scope}].spans[${this.#span}]`;
  }

  /** Dead letters keep the span as JSON, path included. */
  toJSON(): Omit<OtlpSpan, "path"> & { path: string } {
    return { ...this, path: this.path };
  }
}

/** Node 20 has String.prototype.isWellFormed; lib ES2023 does not type it. */
const wellFormed = (text: string) => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** The first attribute whose key or string value is not well-formed, as a path; undefined when all are. */
function malformedAttribute(attributes: Attributes, prefix: string): string | undefined {
  for (const key in attributes) {
    const value = attributes[key];
    if (!wellFormed(key) || (typeof value === "string" && !wellFormed(value))) {
      return `${prefix}[${JSON.stringify(key)}]`;
    }
  }
  return undefined;
}

/** Scalar attribute values; an int64 beyond 2^53 stays a decimal string. Arrays and maps are not read. */
export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** The request could not be decoded at all: the whole request gets 400. */
export class OtlpDecodeError extends Error {
  override name = "OtlpDecodeError";
}

const STATUS_CODE_ERROR = 2;

// ---- protobuf ---------------------------------------------------------------

/**
 * protobufjs' decoded messages, read in place (no toObject copy: this is the
 * hot path). Unset scalars read as the prototype's defaults, so the member
 * of a oneof that is set is the one that is an own property; int64
 * and fixed64 arrive as Long objects (or numbers, without the long package).
 */
type ProtoLong = number | { high: number; low: number; toNumber(): number; toString(): string };
interface ProtoAnyValue {
  stringValue: string | null;
  boolValue: boolean | null;
  intValue: ProtoLong;
  doubleValue: number | null;
}
interface ProtoKeyValue {
  key: string;
  value: ProtoAnyValue | null;
}
interface ProtoSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId: Uint8Array;
  name: string;
  startTimeUnixNano: ProtoLong;
  endTimeUnixNano: ProtoLong;
  attributes: ProtoKeyValue[];
  status: { code: number } | null;
}
interface ProtoRequest {
  resourceSpans: Array<{
    resource: { attributes: ProtoKeyValue[] } | null;
    scopeSpans: Array<{ spans: ProtoSpan[] }>;
  }>;
}

export function decodeProtobufTraces(body: Uint8Array): OtlpSpan[] {
  let request: ProtoRequest;
  // Per span, in request order, where its text is not UTF-8; null when all of it is.
  let malformed: Array<string | undefined> | null = null;
  try {
    request = ExportTraceServiceRequest.decode(body) as unknown as ProtoRequest;
  } catch (err) {
    const lenient = decodeWithInvalidText(body);
    if (!lenient) {
      throw new OtlpDecodeError(`body is not an OTLP ExportTraceServiceRequest in protobuf: ${(err as Error).message}`);
    }
    ({ request, malformed } = lenient);
  }
  const spans: DecodedSpan[] = [];
  request.resourceSpans.forEach((rs, r) => {
    const resource = protoAttributes(rs.resource?.attributes);
    rs.scopeSpans.forEach((ss, s) => {
      ss.spans.forEach((span, i) => {
        spans.push(
          new DecodedSpan(
            hex(span.traceId),
            hex(span.spanId),
            span.parentSpanId.length > 0 ? hex(span.parentSpanId) : null,
            span.name,
            protoNanosToMs(span.startTimeUnixNano),
            protoNanosToMs(span.endTimeUnixNano),
            protoAttributes(span.attributes),
            resource,
            span.status?.code === STATUS_CODE_ERROR,
            { resource: r, scope: s, span: i },
          ),
        );
      });
    });
  });
  if (malformed) {
    for (const [i, span] of spans.entries()) span.malformed = malformed[i];
  }
  return spans;
}

interface RawKeyValue {
  key: Uint8Array | string;
  value: { stringValue: Uint8Array | string | null } | null;
}
interface RawRequest {
  resourceSpans: Array<{
    resource: { attributes: RawKeyValue[] } | null;
    scopeSpans: Array<{ spans: Array<{ name: Uint8Array | string; attributes: RawKeyValue[] }> }>;
  }>;
}

/**
 * The rare path: protobufjs refused the request, which it does for a
 * single string that is not UTF-8. Decoded again with text as bytes, the
 * request is whole; each span (or resource) whose name or attributes are
 * not UTF-8 is marked, and only it is refused (a usage span rejected with
 * the attribute's path). The text is turned into strings in place (U+FFFD
 * where bytes were invalid: only for the dead letter and the reply), so
 * the decoded message reads as the usual one. null: not a request at all.
 */
function decodeWithInvalidText(
  body: Uint8Array,
): { request: ProtoRequest; malformed: Array<string | undefined> } | null {
  let raw: RawRequest;
  try {
    raw = RawTextTraceRequest.decode(body) as unknown as RawRequest;
  } catch {
    return null;
  }
  // Unset bytes decode as protobufjs' shared empty array, which isUtf8 does not take.
  const valid = (bytes: Uint8Array | string | null | undefined) =>
    !bytes || typeof bytes === "string" || bytes.length === 0 || isUtf8(bytes);
  const text = (bytes: Uint8Array | string) =>
    typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("utf8");
  const readAttributes = (list: RawKeyValue[] | undefined, prefix: string): string | undefined => {
    let bad: string | undefined;
    for (const kv of list ?? []) {
      if (!valid(kv.key) || !valid(kv.value?.stringValue)) bad ??= `${prefix}[${JSON.stringify(text(kv.key))}]`;
      kv.key = text(kv.key);
      if (kv.value?.stringValue != null) kv.value.stringValue = text(kv.value.stringValue);
    }
    return bad;
  };
  const malformed: Array<string | undefined> = [];
  for (const rs of raw.resourceSpans) {
    const resource = readAttributes(rs.resource?.attributes, "resource.attributes");
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        const name = valid(span.name) ? undefined : "name";
        span.name = text(span.name);
        // Read (and turned into strings) whatever the name was.
        const attributes = readAttributes(span.attributes, "attributes");
        malformed.push(name ?? attributes ?? resource);
      }
    }
  }
  return { request: raw as unknown as ProtoRequest, malformed };
}

function protoAttributes(list: ProtoKeyValue[] | undefined): Attributes {
  const out: Attributes = {};
  if (!list) return out;
  for (const { key, value } of list) {
    if (!key || !value) continue;
    // Which member of the oneof is set: decoded fields are own properties;
    // unset ones read as the prototype's defaults, null for all but the
    // int64 (a Long 0), which needs the own-property check. protobufjs'
    // virtual `value` getter answers the same but lists the object's keys on every read.
    if (value.stringValue != null) out[key] = value.stringValue;
    else if (Object.hasOwn(value, "intValue")) out[key] = protoInt64(value.intValue);
    else if (value.boolValue != null) out[key] = value.boolValue;
    else if (value.doubleValue != null) out[key] = value.doubleValue;
    // arrays, maps, bytes: not read
  }
  return out;
}

// ---- JSON (OTLP/JSON: lowerCamelCase names, hex ids, int64 as string or number) ----

// JSON numbers past 2^53 are legal here (JSON.parse already rounded them); int64() keeps them as strings.
const int64Json = z.union([
  z.string().regex(/^-?\d+$/, { error: "must be an integer" }),
  z.number().refine(Number.isInteger, { error: "must be an integer" }),
]);
const anyValueJson = z.object({
  stringValue: z.string().optional(),
  boolValue: z.boolean().optional(),
  intValue: int64Json.optional(),
  doubleValue: z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/)]).optional(),
});
const keyValueJson = z.object({ key: z.string(), value: anyValueJson.optional() });
const hexId = (bytes: number) =>
  z.string().regex(new RegExp(`^([0-9a-fA-F]{${bytes * 2}})?$`), { error: `must be ${bytes} bytes in hex` });
const unixNanoJson = z.union([
  z.string().regex(/^\d+$/, { error: "must be unsigned nanoseconds" }),
  z.number().min(0).refine(Number.isInteger, { error: "must be unsigned nanoseconds" }),
]);
const spanJson = z.object({
  traceId: hexId(16).optional(),
  spanId: hexId(8).optional(),
  parentSpanId: hexId(8).optional(),
  name: z.string().optional(),
  startTimeUnixNano: unixNanoJson.optional(),
  endTimeUnixNano: unixNanoJson.optional(),
  attributes: z.array(keyValueJson).optional(),
  status: z.object({ code: z.union([z.int(), z.string()]).optional() }).optional(),
});
const requestJson = z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: z.object({ attributes: z.array(keyValueJson).optional() }).optional(),
        scopeSpans: z.array(z.object({ spans: z.array(spanJson).optional() })).optional(),
      }),
    )
    .optional(),
});

/** An OTLP/JSON body as bytes: JSON is UTF-8, and bytes that are not are refused rather than read as U+FFFD. */
export function decodeJsonTraceBytes(body: Uint8Array): OtlpSpan[] {
  if (!isUtf8(body)) throw new OtlpDecodeError("body is not UTF-8 (OTLP/JSON must be)");
  return decodeJsonTraces(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
}

export function decodeJsonTraces(text: string): OtlpSpan[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`body is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = requestJson.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OtlpDecodeError(
      `body is not an OTLP/JSON ExportTraceServiceRequest: ${issue?.path.map(String).join(".") || "(root)"} ${issue?.message}`,
    );
  }
  const spans: OtlpSpan[] = [];
  (parsed.data.resourceSpans ?? []).forEach((rs, r) => {
    const resource = jsonAttributes(rs.resource?.attributes);
    // JSON carries lone surrogates ("\ud800") that no UTF-8 store can keep.
    const resourceMalformed = malformedAttribute(resource, "resource.attributes");
    (rs.scopeSpans ?? []).forEach((ss, s) => {
      (ss.spans ?? []).forEach((span, i) => {
        const decoded = new DecodedSpan(
          (span.traceId ?? "").toLowerCase(),
          (span.spanId ?? "").toLowerCase(),
          span.parentSpanId ? span.parentSpanId.toLowerCase() : null,
          span.name ?? "",
          nanosToMs(span.startTimeUnixNano),
          nanosToMs(span.endTimeUnixNano),
          jsonAttributes(span.attributes),
          resource,
          span.status?.code === STATUS_CODE_ERROR || span.status?.code === "STATUS_CODE_ERROR",
          { resource: r, scope: s, span: i },
        );
        decoded.malformed =
          (wellFormed(decoded.name) ? undefined : "name") ??
          malformedAttribute(decoded.attributes, "attributes") ??
          resourceMalformed;
        spans.push(decoded);
      });
    });
  });
  return spans;
}

function jsonAttributes(list: Array<z.infer<typeof keyValueJson>> | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of list ?? []) {
    if (!value) continue;
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.intValue !== undefined) out[key] = int64(BigInt(value.intValue).toString());
    else if (value.doubleValue !== undefined) out[key] = Number(value.doubleValue);
  }
  return out;
}

// ---- shared -------------------------------------------------------------------

function hex(bytes: Uint8Array | undefined): string {
  if (!bytes || bytes.length === 0) return ""; // unset: protobufjs' default is an empty array
  // Decoded from a Buffer, protobufjs hands out Buffer slices: no second view needed.
  if (Buffer.isBuffer(bytes)) return bytes.toString("hex");
  // A view on the decoded bytes, not a copy.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** An int64 attribute: the number when exact, else its decimal string (no string round trip for the usual small ones). */
function protoInt64(value: ProtoLong): number | string {
  if (typeof value === "number") return value;
  const n = value.toNumber();
  // |n| ≥ 2^53 is not safe, so a value that toNumber() rounded never passes.
  return Number.isSafeInteger(n) ? n : value.toString();
}

/**
 * fixed64 nanoseconds → epoch ms, exactly, without BigInt or strings (a span
 * has two of these): nanos = hi·2^32 + lo, and 2^32 = 4294·10^6 + 967296, so
 * ⌊nanos / 10^6⌋ = hi·4294 + ⌊(hi·967296 + lo) / 10^6⌋, every term below 2^53.
 */
function protoNanosToMs(nanos: ProtoLong): number | null {
  if (typeof nanos === "number") return nanosToMs(nanos);
  const hi = nanos.high >>> 0;
  const lo = nanos.low >>> 0;
  const ms = hi * 4294 + Math.floor((hi * 967296 + lo) / 1_000_000);
  return ms > 0 ? ms : null;
}

/** int64 as a number when exact, else the decimal string (never a silently rounded number). */
function int64(decimal: string): number | string {
  const n = Number(decimal);
  return Number.isSafeInteger(n) ? n : decimal;
}

function nanosToMs(nanos: string | number | undefined): number | null {
  if (nanos === undefined) return null;
  const ms = Number(BigInt(typeof nanos === "number" ? Math.trunc(nanos) : nanos) / 1_000_000n);
  return ms > 0 ? ms : null;
}
