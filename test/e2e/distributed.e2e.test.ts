import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DistributedStack, startDistributedStack } from "../support/stack";
import { budgetScenario } from "./budget-scenario";
import { concurrencyScenario } from "./concurrency-scenario";
import { openClawScenario, otlpScenario } from "./otlp-scenario";
import { reportsScenario } from "./reports-scenario";
import { scaleOutScenario } from "./scale-out-scenario";
import { type SkeletonTarget, skeletonScenario } from "./skeleton-scenario";
import { tenancyScenario } from "./tenancy-scenario";

/**
 * Distributed mode on the real engines: two instances of ingest,
 * enforcement, aggregator and sink and one of reports, each its own
 * process, on a private Kafka-protocol broker, the shared Redis (own key
 * prefix) and the ClickHouse server (own database).
 */
describe("walking skeleton, distributed mode", () => {
  let stack: DistributedStack;

  beforeAll(async () => {
    stack = await startDistributedStack({
      // debug: the log check below reads the most a service ever writes.
      LOG_LEVEL: "debug",
      // The scale-out scenario's burst of 1,000 checks on two shared cores delays Redis replies past the
      // default 250 ms, and a check then follows the failure policy: it tests atomicity, not latency
      // (test/fault/redis-down tests the timeout).
      REDIS_COMMAND_TIMEOUT_MS: "5000",
    });
  }, 240_000); // nine processes starting on two cores

  afterAll(async () => {
    await stack?.stop();
  });

  // Each call of target() names the next ingest instance, so every scenario's events arrive through both.
  // Enforcement stays the first: a scenario writes a budget and checks at once, and another instance
  // loads budgets within its refresh (500 ms); the scale-out scenario spreads checks over both.
  let turn = 0;
  const target = (): SkeletonTarget => ({
    ingestUrl: stack.ingestUrls[turn++ % stack.ingestUrls.length] as string,
    enforcementUrl: stack.enforcementUrl,
    reportsUrl: stack.reportsUrl,
    adminKey: stack.adminKey,
    rowsFor: (eventId) =>
      stack.store.query("SELECT * FROM usage_events FINAL WHERE event_id = {id:String}", { id: eventId }),
    deadLettersWith: async (marker) => stack.letters.filter((l) => l.payload.includes(marker)),
    alertsFor: async (budgetId, _expected) => stack.alerts.filter((a) => a.budget_id === budgetId),
    settle: (probe, what) => stack.settle(probe, what),
  });
  skeletonScenario(target);
  otlpScenario(target);
  openClawScenario(target);
  budgetScenario(target);
  reportsScenario(target);
  tenancyScenario(target);
  concurrencyScenario(target);
  scaleOutScenario(() => stack);

  it("never writes a secret to its logs", () => {
    const logs = stack
      .processes()
      .map((s) => s.output())
      .join("\n");
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(stack.adminKey);
    expect(logs).not.toMatch(/tgk_[0-9a-f]{16}_/);
  });
});
