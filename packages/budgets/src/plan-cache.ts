import type { BudgetWindow, Metric } from "./definition";
import type { CounterIncrement } from "./ledger";
import { bucketAt } from "./windows";

/**
 * What counting an event of one subject writes to, kept between its events:
 * a user's agent in one session reports into the same running totals and
 * budget buckets all hour, and building those keys (matching the budgets,
 * 20-odd strings) was most of the counting path's CPU in embedded mode
 * (bench/aggregator). An entry holds while
 *   - the budget definitions are the same array (stores hand out a new one
 *     after any change), and
 *   - every window it wrote into is still in the same bucket at the next
 *     event's time (checked per use: a bucket id is a cached lookup).
 * The subject's tier and the event's kind are part of the entry's name.
 */
export interface PlannedLine {
  window: BudgetWindow;
  bucket: string;
  key: string;
  ttlSeconds: number;
  metric: Metric;
  /** A window line's recent-rate slice (forecast.ts); null for rate limits. */
  rate: { window: BudgetWindow; bucket: string; key: string; ttlSeconds: number } | null;
}

export interface Plan {
  budgets: ReadonlyArray<unknown>;
  /** The UTC day and month buckets of the running totals (empty: too old to keep). */
  counterBuckets: string;
  counters: ReadonlyArray<CounterIncrement>;
  lines: ReadonlyArray<PlannedLine>;
}

const LIMIT = 10_000;

export function createPlanCache() {
  const plans = new Map<string, Plan>();
  return {
    /** The plan named `name`, if it still holds for an event at `atMs` (see above). */
    get(name: string, budgets: ReadonlyArray<unknown>, counterBuckets: string, atMs: number): Plan | undefined {
      const plan = plans.get(name);
      if (!plan) return undefined;
      if (plan.budgets !== budgets || plan.counterBuckets !== counterBuckets || !current(plan, atMs)) {
        plans.delete(name);
        return undefined;
      }
      return plan;
    },
    set(name: string, plan: Plan): void {
      // Bounded: a burst of new subjects starts the cache over rather than growing it.
      if (plans.size >= LIMIT) plans.clear();
      plans.set(name, plan);
    },
  };
}

function current(plan: Plan, atMs: number): boolean {
  for (const line of plan.lines) {
    if (bucketAt(line.window, atMs) !== line.bucket) return false;
    if (line.rate && bucketAt(line.rate.window, atMs) !== line.rate.bucket) return false;
  }
  return true;
}
