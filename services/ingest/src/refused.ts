import { RefusedItemsError } from "@tollgate/bus";
import type { FieldError } from "@tollgate/events";

/**
 * A hand-off the bus took in part: the store refused some events for good
 * (embedded mode; see createEmbeddedBus) and wrote the rest. Those events are
 * dead letters already, with the store's error; the client hears only that
 * they were refused — the store's text is internal. Returns their indices
 * among the events handed off, or null when the failure is not that (an
 * outage: nothing was acknowledged, 503).
 */
export function refusedByStore(failure: unknown): number[] | null {
  return failure instanceof RefusedItemsError ? failure.refused.map((r) => r.index) : null;
}

export const STORE_REFUSAL: FieldError = {
  path: "",
  message: "refused by the store; kept as a dead letter",
};

/**
 * The request's item index of each handed-off event: the items that were not
 * rejected, in order (acceptItems keeps the order and drops only the rejected).
 */
export function acceptedItemIndices(itemCount: number, rejected: ReadonlyArray<{ index: number }>): number[] {
  const skip = new Set(rejected.map((r) => r.index));
  const indices: number[] = [];
  for (let index = 0; index < itemCount; index++) if (!skip.has(index)) indices.push(index);
  return indices;
}
