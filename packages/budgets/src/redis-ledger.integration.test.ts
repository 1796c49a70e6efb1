import { createKeyBuilder } from "@tollgate/counters";
import { Redis } from "ioredis";
import { afterAll, describe } from "vitest";
import { forecastContract } from "./forecast-contract";
import { ledgerContract } from "./ledger-contract";
import { createRedisLedger } from "./redis-ledger";

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
    return { ledger: createRedisLedger(redis, keys.budgetHolds), prefix };
  };
  ledgerContract(fresh);
  forecastContract(fresh);
});
