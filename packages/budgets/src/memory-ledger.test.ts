import { describe, expect, it } from "vitest";
import { countingContract } from "./counting-contract";
import { forecastContract } from "./forecast-contract";
import { ledgerContract } from "./ledger-contract";
import { createMemoryLedger } from "./memory-ledger";
import { budget, engineFor, usage } from "./testing";

describe("memory ledger (embedded mode)", () => {
  ledgerContract(() => ({ ledger: createMemoryLedger(), prefix: "tg" }));
  forecastContract(() => ({ ledger: createMemoryLedger(), prefix: "tg" }));
  countingContract(() => ({ ledger: createMemoryLedger(), prefix: "tg" }));

  it("remembers a counted event_id for the dedupe window only: memory stays bounded", async () => {
    const ledger = createMemoryLedger();
    const day = { type: "calendar", unit: "day" } as const;
    const budgets = [budget("d", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e9 })];
    const { engine, clock } = engineFor(ledger, budgets);
    const e = usage({ event_id: "retried", org_id: "acme", user_id: "u1", timestamp_ms: clock.now });
    expect(await engine.count([{ event: e }])).toEqual([true]);
    clock.now += 3_599_000; // a retry within the hour: recognised
    expect(await engine.count([{ event: e }])).toEqual([false]);
    clock.now += 2_000; // past the default window (3,600 s): forgotten (a report retried this late counts again)
    ledger.sweep(clock.now);
    expect(await engine.count([{ event: e }])).toEqual([true]);
  });
});
