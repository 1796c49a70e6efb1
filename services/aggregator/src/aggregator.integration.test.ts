import { randomBytes } from "node:crypto";
import { type AlertRecord, createMemoryLedger, createRedisLedger, type Grant, type Ledger } from "@tollgate/budgets";
import { createKeyBuilder } from "@tollgate/counters";
import { createLogger } from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { budget, usage } from "../../../packages/budgets/src/testing";
import { createAggregator } from "./service";

/**
 * The aggregator as both modes build it (createAggregator, as main.ts and
 * services/embedded do), over each mode's store: the same budget with a
 * grant must alert at the same usage, against the same limit.
 */
const redis = new Redis(process.env.REDIS_URL as string);
afterAll(async () => {
  await redis.quit();
});

const stores: Array<[string, () => { ledger: Ledger; prefix: string }]> = [
  ["embedded (memory)", () => ({ ledger: createMemoryLedger(), prefix: "tg" })],
  [
    "distributed (Redis)",
    () => {
      const prefix = `agg-${randomBytes(4).toString("hex")}`;
      return { ledger: createRedisLedger(redis, createKeyBuilder(prefix)), prefix };
    },
  ],
];

describe.each(stores)("createAggregator over the %s ledger", (_mode, makeLedger) => {
  it("judges alert thresholds against the limit with its grants", async () => {
    const { ledger, prefix } = makeLedger();
    const now = Date.now();
    const user = budget("user-day", {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1_000,
      alert_thresholds_pct: [50, 100],
    });
    const grant: Grant = {
      id: "g1",
      budget_id: "user-day",
      member: "u1",
      amount: 1_000,
      expires_at_ms: now + 3_600_000,
      reason: null,
      created_at_ms: now,
    };
    const published: AlertRecord[] = [];
    const aggregator = createAggregator({
      ledger,
      keys: createKeyBuilder(prefix),
      budgets: { all: () => [user] },
      grants: { all: () => [grant] },
      tiers: { get: () => undefined },
      prices: loadPriceTable(),
      env: { TOLLGATE_DEDUPE_WINDOW_SECONDS: 3_600 },
      publishAlerts: async (alerts) => {
        published.push(...alerts);
      },
      logger: createLogger("aggregator-test", "silent"),
    });
    const report = (id: string, tokens: number) =>
      aggregator.handle([
        usage({ event_id: id, org_id: "acme", user_id: "u1", timestamp_ms: Date.now(), total_tokens: tokens }),
      ]);
    const thresholds = () =>
      published.flatMap((a) => ("threshold_pct" in a ? [[a.threshold_pct, a.limit, a.used]] : []));

    await report("e1", 900); // 90 % of the budget alone, 45 % with the grant: no alert
    expect(thresholds()).toEqual([]);
    await report("e2", 200); // 1,100 of 2,000: 55 %
    expect(thresholds()).toEqual([[50, 2_000, 1_100]]);
    await report("e2", 200); // the same report again counts nothing
    await report("e3", 900); // 2,000 of 2,000
    expect(thresholds()).toEqual([
      [50, 2_000, 1_100],
      [100, 2_000, 2_000],
    ]);
  });
});
