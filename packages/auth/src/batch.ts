import { type FieldError, fromZodIssues } from "@tollgate/events";
import { z } from "zod";

/**
 * What the bulk routes (POST /v1/budgets:batch, POST /v1/keys:batch) share,
 * shaped like POST /v1/events: each item is decided on its own, by the very
 * rules of its single route, so one bad item never costs the batch its good
 * ones; the valid items are written together (one insert); the reply names
 * each refused item with what its single route would have answered. 200 when
 * at least one item was applied, 400 (the same reply) when none was, 413 past
 * the cap. Synchronous writes, hence 200 where ingest (a hand-off) says 202.
 */

/** One refused item: where it was in the request, and its single route's answer (status, error, field errors). */
export interface ItemRejection {
  /** The list it was in (`upsert`, `delete`, `create`). */
  op: string;
  index: number;
  /** The id it named, when it named one. */
  id?: string;
  status: number;
  error: string;
  message: string;
  errors: FieldError[];
}

/** A single route's refusal: its status and body. */
export interface Refusal {
  status: number;
  body: { error: string; message?: string; errors?: FieldError[] };
}

/**
 * A single route's refusal as the rejection of item `index` of list `op`.
 * Every rejection has both a message and field errors, so a client prints
 * them alike: a 400's message joins its fields, a refusal without fields
 * (404, 409) names `idPath`.
 */
export function itemRejection(op: string, index: number, id: string | undefined, refusal: Refusal): ItemRejection {
  const { error, message, errors } = refusal.body;
  const fields = errors ?? [{ path: "id", message: message ?? error }];
  return {
    op,
    index,
    ...(id !== undefined ? { id } : {}),
    status: refusal.status,
    error,
    message: message ?? fields.map((e) => `${e.path}: ${e.message}`).join("; "),
    errors: fields,
  };
}

/**
 * The request's lists, or why the request as a whole is refused: a JSON
 * object holding only the lists `ops` (each an array; absent is empty), at
 * least one item in all, at most `max` (413 past it, like ingest's batches).
 */
export function batchLists<K extends string>(
  body: unknown,
  ops: readonly [K, ...K[]],
  max: number,
): { lists: Record<K, unknown[]> } | { refusal: Refusal } {
  const envelope = z.strictObject(
    Object.fromEntries(ops.map((op) => [op, z.array(z.unknown(), { error: "must be an array" }).optional()])),
    { error: `must be a JSON object of ${ops.join(", ")}` },
  );
  const parsed = envelope.safeParse(body);
  if (!parsed.success) {
    return { refusal: { status: 400, body: { error: "invalid_request", errors: fromZodIssues(parsed.error.issues) } } };
  }
  const lists = Object.fromEntries(ops.map((op) => [op, (parsed.data[op] as unknown[] | undefined) ?? []])) as Record<
    K,
    unknown[]
  >;
  const count = ops.reduce((sum, op) => sum + lists[op].length, 0);
  if (count === 0) {
    return {
      refusal: {
        status: 400,
        body: {
          error: "invalid_request",
          errors: [{ path: "(root)", message: `name at least one item (${ops.join(", ")})` }],
        },
      },
    };
  }
  if (count > max) {
    return {
      refusal: {
        status: 413,
        body: { error: "batch_too_large", message: `a batch may hold at most ${max} items; this one has ${count}` },
      },
    };
  }
  return { lists };
}

/**
 * The ids named more than once in a batch, across its lists: such items are
 * refused, every one of them — which of two writes of one id was meant is
 * not for the server to guess, and one insert holds one version per id.
 */
export function repeatedIds(ids: ReadonlyArray<string | undefined>): Set<string> {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const id of ids) {
    if (id === undefined) continue;
    if (seen.has(id)) repeated.add(id);
    seen.add(id);
  }
  return repeated;
}

/** The rejection of an item whose id the batch names more than once. */
export function repeatedRejection(op: string, index: number, id: string): ItemRejection {
  return itemRejection(op, index, id, {
    status: 400,
    body: {
      error: "invalid_request",
      errors: [{ path: "id", message: `${id} is named more than once in this batch` }],
    },
  });
}

/** Rejections in request order: by list (in `ops` order), then index. */
export function inRequestOrder(rejected: ItemRejection[], ops: ReadonlyArray<string>): ItemRejection[] {
  return rejected.sort((a, b) => ops.indexOf(a.op) - ops.indexOf(b.op) || a.index - b.index);
}

/** 200 when at least one item was applied, 400 when none was (like ingest's 202/400). */
export function batchStatus(accepted: number): 200 | 400 {
  return accepted > 0 ? 200 : 400;
}

/** A JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
