import type { Budget, Ledger } from "@tollgate/budgets";
import { createKeyBuilder, type KeyBuilder } from "@tollgate/counters";
import { createLogger, type Logger } from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { createAggregator } from "../../services/aggregator/src/service";

const NO_GRANTS: never[] = [];

/**
 * The aggregator exactly as both modes build it (createAggregator), over a
 * ledger and a fixed list of budgets — no grants, no tiers — for the tests
 * and benches that drive its handler or its engine directly.
 */
export function aggregatorOver(
  ledger: Ledger,
  options: { keys?: KeyBuilder; budgets?: Budget[]; dedupeWindowS?: number; logger?: Logger } = {},
) {
  const budgets = options.budgets ?? [];
  return createAggregator({
    ledger,
    keys: options.keys ?? createKeyBuilder("tg"),
    // The same arrays every time: the engine keeps its indexes and plans per definitions array.
    budgets: { all: () => budgets },
    grants: { all: () => NO_GRANTS },
    tiers: { get: () => undefined },
    prices: loadPriceTable(),
    env: { TOLLGATE_DEDUPE_WINDOW_SECONDS: options.dedupeWindowS ?? 3_600 },
    logger: options.logger ?? createLogger("aggregator", "silent"),
  });
}
