import type { KeyBuilder } from "./keys";
import {
  assembleTotals,
  type IdentityQuery,
  TOTAL_FIELDS,
  type Totals,
  totalsReads,
  type UsageTotals,
} from "./metrics";

/**
 * Running usage totals per identity and window: counters without a limit.
 * They are counted with everything else an event counts, in the budgets'
 * ledger (one step, one marker per event: see BudgetEngine.count); this is
 * their read side, over either of the ledger's stores (Redis, memory).
 */
export interface CounterStore {
  totals(query: IdentityQuery, nowMs: number): Promise<UsageTotals>;
  ping(): Promise<void>;
}

/** What the counters read from: the ledger's bucket fields (see Ledger.fields in @tollgate/budgets). */
export interface BucketFields {
  fields(keys: string[], names: ReadonlyArray<string>, nowMs: number): Promise<number[][]>;
  ping(): Promise<void>;
}

export function createCounterStore(store: BucketFields, keys: KeyBuilder): CounterStore {
  return {
    async totals(query, nowMs) {
      const reads = totalsReads(keys, query, nowMs);
      if (reads.length === 0) return {};
      const values = await store.fields(
        reads.map((read) => read.key),
        TOTAL_FIELDS,
        nowMs,
      );
      return assembleTotals(
        reads,
        values.map(
          (row) => Object.fromEntries(TOTAL_FIELDS.map((field, i) => [field, row[i] ?? 0])) as unknown as Totals,
        ),
      );
    },
    ping: () => store.ping(),
  };
}
