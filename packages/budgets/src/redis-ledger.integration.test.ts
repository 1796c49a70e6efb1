import { createKeyBuilder } from "@tollgate/counters";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { countingContract } from "./counting-contract";
import { forecastContract } from "./forecast-contract";
import { ledgerContract } from "./ledger-contract";
import { createRedisLedger } from "./redis-ledger";
import { engineFor, usage } from "./testing";

describe("Redis ledger (distributed mode), on a real Redis", () => {
  const redis = new Redis(process.env.REDIS_URL as string);
  afterAll(async () => {
    await redis.quit();
  });
  let run = 0;
  const fresh = () => {
    // A fresh key prefix per test: no flush, no interference with other suites.
    const prefix = `ledger-${process.pid}-${Date.now()}-${run++}`;
    const keys = createKeyBuilder(prefix);
    return { ledger: createRedisLedger(redis, keys), prefix };
  };
  ledgerContract(fresh);
  forecastContract(fresh);
  countingContract(fresh);

  it("keeps one marker per counted event, for the dedupe window only", async () => {
    const { ledger, prefix } = fresh();
    const keys = createKeyBuilder(prefix);
    const { engine, clock } = engineFor(ledger, [], { prefix });
    await engine.count([{ event: usage({ event_id: "m1", org_id: "acme", timestamp_ms: clock.now }) }]);
    const ttl = await redis.ttl(keys.seenEvent(keys.tenant("acme"), "m1"));
    expect(ttl).toBeGreaterThan(3_500);
    expect(ttl).toBeLessThanOrEqual(3_600);
    expect(await redis.keys(`${prefix}:*:seen:*`)).toHaveLength(1);
  });
});
