import type { SqlStore } from "../store";

export interface DeadLetterRow {
  stage: string;
  reason: string;
  errors: unknown[];
  payload: string;
  key_id: string | null;
  received_at_ms: number;
}

export async function insertDeadLetters(store: SqlStore, letters: ReadonlyArray<DeadLetterRow>): Promise<void> {
  await store.insert(
    "dead_letters",
    letters.map((l) => ({
      received_at: Math.floor(l.received_at_ms / 1000),
      stage: l.stage,
      reason: l.reason,
      errors: JSON.stringify(l.errors),
      payload: l.payload,
      key_id: l.key_id ?? "",
    })),
  );
}
