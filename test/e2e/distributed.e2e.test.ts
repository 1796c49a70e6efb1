import { TOPICS } from "@tollgate/bus";
import { createKeyBuilder } from "@tollgate/counters";
import type { SqlStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distributedEnv, dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { eventually, type RunningProcess, startTs, waitReady } from "../support/processes";
import { budgetScenario } from "./budget-scenario";
import { concurrencyScenario } from "./concurrency-scenario";
import { openClawScenario, otlpScenario } from "./otlp-scenario";
import { reportsScenario } from "./reports-scenario";
import { type SkeletonTarget, skeletonScenario } from "./skeleton-scenario";
import { tenancyScenario } from "./tenancy-scenario";

/**
 * Distributed mode on the real engines: the four services as their own
 * processes, on a private Kafka-protocol broker, the shared Redis (own key
 * prefix) and the ClickHouse server (own database).
 */
describe("walking skeleton, distributed mode", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const ports = { ingest: 0, enforcement: 0, aggregator: 0, sink: 0, reports: 0 };
  let broker: PrivateBroker;
  let store: SqlStore;
  const services: RunningProcess[] = [];
  const deadLetters: Array<{ reason: string; payload: string }> = [];
  const alerts: Array<Record<string, unknown>> = [];
  let dlqConsumer: ReturnType<Kafka["consumer"]> | undefined;

  beforeAll(async () => {
    const engines = engineEnv();
    broker = await startPrivateBroker();
    store = await freshClickHouseDatabase();
    const base = {
      ...distributedEnv({
        brokers: broker.brokers,
        database: store.database,
        adminKey,
        keyPrefix: runId("e2e"),
        logLevel: "warn",
      }),
    };
    const start = (name: keyof typeof ports, portVar: string) => {
      const proc = startTs(
        `services/${name}/src/index.ts`,
        { ...base, [portVar]: "0", [portVar.replace("PORT", "HOST")]: "127.0.0.1", LOG_LEVEL: "debug" },
        name,
      );
      services.push(proc);
      return proc;
    };
    const started = [
      ["ingest", "INGEST_PORT"],
      ["enforcement", "ENFORCEMENT_PORT"],
      ["aggregator", "AGGREGATOR_PORT"],
      ["sink", "SINK_PORT"],
      ["reports", "REPORTS_PORT"],
    ] as const;
    const procs = started.map(([name, portVar]) => start(name, portVar));
    await Promise.all(
      procs.map(async (proc, i) => {
        const match = await proc.waitForOutput(/"port":(\d+)/, 60_000);
        ports[started[i]?.[0] as keyof typeof ports] = Number(match[1]);
      }),
    );
    await Promise.all(Object.values(ports).map((port) => waitReady(`http://127.0.0.1:${port}`)));
    // The aggregator marks the counters complete once it has (re)built them; until then checks follow the failure policy.
    const redis = new Redis(engines.redisUrl);
    await eventually(async () => {
      const state = await redis.hgetall(createKeyBuilder(base.REDIS_KEY_PREFIX).countersState());
      return Number(state.partitions) > 0 && Object.keys(state).length > Number(state.partitions) ? true : undefined;
    }, "the aggregator to mark the counters complete");
    redis.disconnect();

    const kafka = new Kafka({ clientId: "e2e-dlq-reader", brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    dlqConsumer = kafka.consumer({ groupId: runId("e2e-dlq") });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({ topics: [TOPICS.deadLetter, TOPICS.alerts], fromBeginning: true });
    await dlqConsumer.run({
      eachMessage: async ({ topic, message }) => {
        (topic === TOPICS.alerts ? alerts : deadLetters).push(JSON.parse(message.value?.toString() ?? "{}"));
      },
    });
  });

  afterAll(async () => {
    await dlqConsumer?.disconnect();
    await Promise.all(services.map((s) => s.stop()));
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  const target = (): SkeletonTarget => ({
    ingestUrl: `http://127.0.0.1:${ports.ingest}`,
    enforcementUrl: `http://127.0.0.1:${ports.enforcement}`,
    reportsUrl: `http://127.0.0.1:${ports.reports}`,
    adminKey,
    rowsFor: (eventId) => store.query("SELECT * FROM usage_events FINAL WHERE event_id = {id:String}", { id: eventId }),
    deadLettersWith: async (marker) => deadLetters.filter((l) => l.payload.includes(marker)),
    alertsFor: async (budgetId, _expected) => alerts.filter((a) => a.budget_id === budgetId),
    settle: (probe, what) => eventually(probe, what, 30_000),
  });
  skeletonScenario(target);
  otlpScenario(target);
  openClawScenario(target);
  budgetScenario(target);
  reportsScenario(target);
  tenancyScenario(target);
  concurrencyScenario(target);

  it("never writes a secret to its logs", () => {
    const logs = services.map((s) => s.output()).join("\n");
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(adminKey);
    expect(logs).not.toMatch(/tgk_[0-9a-f]{16}_/);
  });
});
