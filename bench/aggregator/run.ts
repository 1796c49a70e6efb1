/**
 * How fast the aggregator counts, with its baselines side by side in the
 * same run, over the same events:
 *   distributed  the aggregator service (its own process) consuming
 *                tollgate.usage.v1 from a private broker into the machine's
 *                Redis: decode, the counting script (running totals, three
 *                budgets, positions, markers), offset commits
 *   raw EVALSHA  the same increments (every field of every key the counting
 *                path adds to), as a minimal script per event, pipelined
 *                1,000 at a time on one connection — no Kafka, no dedupe,
 *                no expiry, no settlement
 *   embedded     BudgetEngine.count over the memory ledger, in process
 *   raw Map      a minimal in-memory counter: per event, its running-total
 *                keys built by the key builder (five counts each) and its
 *                budget and rate keys, added into Maps (no matching, no
 *                dedupe, no expiry)
 * Prints events/s and the ratios (goal: ≥ 0.7 for each mode), medians of
 * alternating rounds.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:aggregator [--events 100000] [--rounds 3]
 */
import { parseArgs } from "node:util";
import { BudgetStore, type CountedEvent, createMemoryLedger } from "@tollgate/budgets";
import { CONSUMER_GROUPS, createKafka, createKafkaPublisher, TOPICS } from "@tollgate/bus";
import { createKeyBuilder, eventCounterTargets, utcBucket } from "@tollgate/counters";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import { Redis } from "ioredis";
import { budget } from "../../packages/budgets/src/testing";
import { aggregatorOver } from "../../test/support/aggregator";
import { distributedEnv, dropDatabase, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { startService } from "../../test/support/processes";

const { values: args } = parseArgs({
  options: { events: { type: "string", default: "100000" }, rounds: { type: "string", default: "3" } },
});
const EVENTS = Number(args.events);
const ROUNDS = Number(args.rounds);
const PARTITIONS = 3;
const logger = createLogger("bench-aggregator", "warn");

if (!process.env.REDIS_URL || !process.env.TOLLGATE_MOCK_BROKER_BIN) {
  console.error("run `bash infra/local/up.sh && source .tollgate/infra/env` first");
  process.exit(2);
}

// A fleet: 5 orgs, 50 projects, 1,000 users, 200 agents, a session per user and hour; three budgets.
const now = Date.now();
const events: UsageEvent[] = Array.from({ length: EVENTS }, (_, i) => {
  const user = i % 1_000;
  return sampleUsageEvent({
    event_id: `bench-${i}`,
    timestamp_ms: now - (EVENTS - i) * 10,
    org_id: `org-${user % 5}`,
    team_id: `team-${user % 20}`,
    project_id: `project-${user % 50}`,
    user_id: `user-${user}`,
    agent_id: `agent-${i % 200}`,
    session_id: `session-${user}-${Math.floor(i / 50_000)}`,
    input_tokens: 100 + (i % 50),
    output_tokens: 40,
    total_tokens: 140 + (i % 50),
    cost_micro_usd: 650 + (i % 7),
  });
});
const day = { type: "calendar", unit: "day" } as const;
const budgets = [
  budget("org-day", { scope: { type: "org", id: "*" }, metric: "cost_usd", window: day, limit: 1e12 }),
  budget("project-month", {
    scope: { type: "project", id: "*" },
    metric: "tokens",
    window: { type: "calendar", unit: "month" },
    limit: 1e12,
  }),
  budget("user-day", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1e12 }),
];

/** Every increment the counting path makes per event, recorded through a ledger that keeps them. */
async function plannedIncrements(): Promise<CountedEvent[]> {
  const planned: CountedEvent[] = [];
  const recorder = { ...createMemoryLedger() };
  recorder.count = async (_positions, counted) => {
    planned.push(...counted);
    return counted.map(() => true);
  };
  const { engine } = aggregatorOver(recorder, { keys: createKeyBuilder("plan"), budgets, logger });
  for (let i = 0; i < events.length; i += 5_000)
    await engine.count(events.slice(i, i + 5_000).map((event) => ({ event })));
  return planned;
}

const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

async function distributed(): Promise<number> {
  const broker = await startPrivateBroker(PARTITIONS);
  const prefix = runId("benchagg");
  const redis = new Redis(process.env.REDIS_URL as string);
  // The service reads its budgets from ClickHouse: the same three.
  const store = await freshClickHouseDatabase();
  const definitions = new BudgetStore(store);
  for (const b of budgets) await definitions.put(b);
  try {
    const kafka = createKafka({ clientId: "bench-aggregator", brokers: [broker.brokers], logger });
    const publisher = await createKafkaPublisher(kafka);
    for (let i = 0; i < events.length; i += 5_000) await publisher.publish(events.slice(i, i + 5_000));
    await publisher.close();
    // Complete counters: no rebuild on start (a fresh prefix would look like a Redis that lost its data).
    const state: Record<string, string> = { partitions: String(PARTITIONS) };
    for (let p = 0; p < PARTITIONS; p++) state[`p${p}`] = String(now);
    await redis.hset(createKeyBuilder(prefix).countersState(), state);

    const { proc } = await startService("aggregator", {
      ...distributedEnv({
        brokers: broker.brokers,
        database: store.database,
        adminKey: runId("bench-admin-key-0123456789"),
        logLevel: "info",
        keyPrefix: prefix,
      }),
      AGGREGATOR_WEBHOOKS: "false",
    });
    const admin = kafka.admin();
    await admin.connect();
    const committed = async () => {
      const [group] = await admin.fetchOffsets({ groupId: CONSUMER_GROUPS.aggregator, topics: [TOPICS.usage] });
      return (group?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    };
    // From the first commit to the last: the group's join and the first fetch are not counting.
    let start = 0;
    let startCount = 0;
    let last = 0;
    const deadline = Date.now() + 600_000;
    while (last < events.length && Date.now() < deadline) {
      last = await committed();
      if (start === 0 && last > 0) {
        start = performance.now();
        startCount = last;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const elapsed = performance.now() - start;
    await admin.disconnect();
    await proc.stop("SIGTERM");
    if (last < events.length) throw new Error(`aggregator committed ${last} of ${events.length}`);
    return rate(events.length - startCount, elapsed);
  } finally {
    const found = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < found.length; i += 10_000) await redis.del(...found.slice(i, i + 10_000));
    await redis.quit();
    await broker.stop();
    await dropDatabase(store);
  }
}

/** KEYS: running totals, then budget buckets; ARGV: their count, the event's five counts (field, amount), each bucket's amount. */
const MINIMAL_LUA = `
local c = tonumber(ARGV[1])
for i = 1, c do
  for j = 2, 10, 2 do redis.call('HINCRBY', KEYS[i], ARGV[j], ARGV[j + 1]) end
end
for i = c + 1, #KEYS do redis.call('HINCRBY', KEYS[i], 'used', ARGV[11 + i - c]) end
return 1`;

async function rawEvalsha(planned: CountedEvent[]): Promise<number> {
  const redis = new Redis(process.env.REDIS_URL as string);
  const prefix = runId("benchraw");
  const sha = (await redis.script("LOAD", MINIMAL_LUA)) as string;
  const start = performance.now();
  for (let i = 0; i < planned.length; i += 1_000) {
    const pipeline = redis.pipeline();
    for (const event of planned.slice(i, i + 1_000)) {
      const keys = [...event.counters, ...event.increments].map((inc) => `${prefix}:${inc.key}`);
      pipeline.evalsha(
        sha,
        keys.length,
        ...keys,
        event.counters.length,
        ...Object.entries(event.counts).flat(),
        ...event.increments.map((inc) => inc.amount),
      );
    }
    await pipeline.exec();
  }
  const elapsed = performance.now() - start;
  const found = await redis.keys(`${prefix}:*`);
  for (let i = 0; i < found.length; i += 10_000) await redis.del(...found.slice(i, i + 10_000));
  await redis.quit();
  return rate(planned.length, elapsed);
}

async function embedded(): Promise<number> {
  const { engine } = aggregatorOver(createMemoryLedger(), { budgets, logger });
  const start = performance.now();
  // Batches as the embedded bus hands them over.
  for (let i = 0; i < events.length; i += 500) await engine.count(events.slice(i, i + 500).map((event) => ({ event })));
  return rate(events.length, performance.now() - start);
}

function rawMap(): number {
  const keys = createKeyBuilder("tg");
  const counts = new Map<string, number>();
  const totals = new Map<string, Record<string, number>>();
  const add = (key: string, amount: number) => counts.set(key, (counts.get(key) ?? 0) + amount);
  const start = performance.now();
  for (const event of events) {
    const tenant = keys.tenant(event.org_id);
    const five = {
      requests: 1,
      tokens: event.total_tokens,
      input_tokens: event.input_tokens,
      output_tokens: event.output_tokens,
      cost_micro_usd: event.cost_micro_usd,
    };
    for (const target of eventCounterTargets(keys, event, now)) {
      const total = totals.get(target.key) ?? {};
      for (const field in five) total[field] = (total[field] ?? 0) + five[field as keyof typeof five];
      totals.set(target.key, total);
    }
    const dayBucket = utcBucket("day", event.timestamp_ms);
    const hour = `h${Math.floor(event.timestamp_ms / 3_600_000)}`;
    for (const [id, member] of [
      ["org-day", event.org_id ?? ""],
      ["project-month", event.project_id ?? ""],
      ["user-day", event.user_id],
    ]) {
      add(keys.budgetBucket(tenant, id as string, member as string, dayBucket), event.total_tokens);
      add(keys.budgetBucket(tenant, `${id}#rate`, member as string, hour), event.total_tokens);
    }
  }
  return rate(events.length, performance.now() - start);
}

const planned = await plannedIncrements();
const increments = planned.reduce((sum, e) => sum + e.counters.length + e.increments.length, 0) / planned.length;
console.log(`${EVENTS} events, ${increments.toFixed(1)} keys each (running totals and three budgets)`);
// Alternating rounds, medians: each path and its baseline see the same machine.
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const runs = { distributed: [] as number[], raw: [] as number[], embedded: [] as number[], map: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  runs.distributed.push(await distributed());
  runs.raw.push(await rawEvalsha(planned));
  runs.embedded.push(await embedded());
  runs.map.push(rawMap());
  console.log(
    `round ${round + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.at(-1)])))}`,
  );
}
const [distributedRate, rawRate, embeddedRate, mapRate] = [runs.distributed, runs.raw, runs.embedded, runs.map].map(
  median,
) as [number, number, number, number];
console.log("");
console.log(`| path | events/s | baseline | events/s | ratio (goal ≥ 0.7), median of ${ROUNDS} |`);
console.log("|---|---|---|---|---|");
console.log(
  `| distributed aggregator | ${distributedRate} | raw EVALSHA | ${rawRate} | ${(distributedRate / rawRate).toFixed(2)} |`,
);
console.log(`| embedded count | ${embeddedRate} | raw Map | ${mapRate} | ${(embeddedRate / mapRate).toFixed(2)} |`);
