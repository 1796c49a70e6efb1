import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type CountedEvent, createMemoryLedger, type Ledger } from "@tollgate/budgets";
import { createLogger } from "@tollgate/kit";
import { aggregatorOver } from "../../test/support/aggregator";
import { fleetBudgets, fleetStream } from "./events";

export interface MemoryFigures {
  events: number;
  /** Heap the seen-markers held until the sweep dropped them, per marker. */
  bytesPerMarker: number;
  /** Heap of the buckets (running totals, budget buckets, rate slices) and positions, per bucket. */
  bytesPerBucket: number;
  buckets: number;
}

/** A full collection, twice (weak references and finalisers settle on the second). */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  return () => {
    gc();
    gc();
  };
}

/**
 * Embedded mode's store: the same aggregator over the memory ledger (as
 * services/embedded builds it), the same stream; V8 heap after a full GC
 * (a) before, (b) after counting with every marker still held (the memory
 * ledger drops expired markers only when swept, every 60 s in embedded
 * mode), (c) after the window passed and a sweep, (d) without the bench's
 * own set of distinct bucket keys. Markers = (b − c) / events; buckets =
 * (d − a) / distinct keys.
 */
export async function measureMemoryLedger(opts: {
  events: number;
  windowS: number;
  chunk: number;
  log: (line: string) => void;
}): Promise<MemoryFigures> {
  const gc = collector();
  const ledger = createMemoryLedger();
  let distinct = new Set<string>();
  // Counts the distinct keys the ledger is given (the memory ledger has no size to ask).
  const counting: Ledger = {
    ...ledger,
    count(positionsKey: string, events: CountedEvent[], windowS: number, nowMs: number) {
      for (const event of events) {
        // Running totals and budget buckets: one list (increments) or two (counters beside them).
        const { increments, counters } = event as CountedEvent & { counters?: ReadonlyArray<{ key: string }> };
        for (const inc of [...increments, ...(counters ?? [])]) distinct.add(inc.key);
      }
      return ledger.count(positionsKey, events, windowS, nowMs);
    },
  };
  const budgets = fleetBudgets(Date.now());
  const { handle } = aggregatorOver(counting, {
    budgets,
    dedupeWindowS: opts.windowS,
    logger: createLogger("capacity-bench", "silent"),
  });
  const stream = fleetStream(18, () => Date.now());
  const heap = () => {
    gc();
    return process.memoryUsage().heapUsed;
  };
  // Warm: the code paths' own allocations (compiled code, caches) are no state.
  await handle(stream.next(1).events, []);
  ledger.clear();
  distinct = new Set();
  const before = heap();
  let lastMs = 0;
  for (let counted = 0; counted < opts.events; ) {
    const { events, positions } = stream.next(Math.min(opts.chunk, opts.events - counted));
    await handle(events, positions);
    counted += events.length;
    lastMs = Date.now();
  }
  const withMarkers = heap();
  // The markers' expiry is a known instant: wait for it, then sweep as embedded mode's timer does.
  await new Promise((r) => setTimeout(r, Math.max(0, lastMs + opts.windowS * 1000 + 50 - Date.now())));
  ledger.sweep(Date.now());
  const swept = heap();
  const buckets = distinct.size;
  distinct = new Set();
  const state = heap();
  opts.log(`  memory: ${opts.events.toLocaleString("en")} events counted into the memory ledger`);
  return {
    events: opts.events,
    bytesPerMarker: (withMarkers - swept) / opts.events,
    bytesPerBucket: (state - before) / buckets,
    buckets,
  };
}
