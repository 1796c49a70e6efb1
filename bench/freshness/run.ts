/**
 * Freshness: the time from ingest's 2xx for an event to its usage being
 * visible at POST /v1/check, on the distributed path (ingest → Kafka →
 * aggregator → Redis → enforcement), under a steady background load.
 * Prints p50/p99 (goal p99 ≤ 250 ms at 2,000 events/s).
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:freshness [--seconds 20] [--rate 2000]
 */
import { parseArgs } from "node:util";
import { distributedEnv, dropDatabase, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { type RunningProcess, startService } from "../../test/support/processes";
import { percentile } from "../ingest/table";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "20" }, rate: { type: "string", default: "2000" } },
});
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const BATCH = 100;
const POLL_MS = 5;

for (const variable of ["REDIS_URL", "CLICKHOUSE_URL", "TOLLGATE_MOCK_BROKER_BIN"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const broker = await startPrivateBroker(6);
  const store = await freshClickHouseDatabase(runId("tg_bench_"));
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const processes: RunningProcess[] = [];
  const cleanup = async () => {
    await Promise.all(processes.map((p) => p.stop().catch(() => null)));
    await broker.stop().catch(() => undefined);
    await dropDatabase(store).catch(() => undefined);
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    const env = {
      ...distributedEnv({
        brokers: broker.brokers,
        database: store.database,
        adminKey,
        keyPrefix: runId("fresh"),
        logLevel: "info",
      }),
    };
    const start = async (name: string) => {
      const { proc, url } = await startService(name, env);
      processes.push(proc);
      return url;
    };
    const [ingest, enforcement] = await Promise.all([start("ingest"), start("enforcement")]);
    await start("aggregator");
    const headers = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    const budget = await fetch(`${enforcement}/v1/budgets/fresh-users`, {
      method: "PUT",
      headers,
      body: JSON.stringify({
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 1e15,
      }),
    });
    if (budget.status !== 201) throw new Error(`budget: ${budget.status}`);

    const event = (user: string) => ({
      project_id: "fresh",
      user_id: user,
      agent_id: "a",
      model: "gpt-4o",
      usage: { input_tokens: 7, output_tokens: 3 },
    });
    const post = (events: unknown[]) =>
      fetch(`${ingest}/v1/events`, { method: "POST", headers, body: JSON.stringify({ events }) });

    /** Sends one event for `user` and polls the check until its usage shows; the time from 2xx to visible. */
    const visibleAfter = async (user: string, timeoutMs = 10_000): Promise<number | null> => {
      const reply = await post([event(user)]);
      await reply.arrayBuffer();
      if (reply.status !== 202) return null;
      const acked = performance.now();
      for (;;) {
        const check = await fetch(`${enforcement}/v1/check`, {
          method: "POST",
          headers,
          body: JSON.stringify({ user_id: user, project_id: "fresh", agent_id: "a" }),
        });
        const body = (await check.json()) as { budgets?: Array<{ id: string; used: number }> };
        if ((body.budgets?.find((b) => b.id === "fresh-users")?.used ?? 0) >= 10) return performance.now() - acked;
        if (performance.now() - acked > timeoutMs) return null;
        await sleep(POLL_MS);
      }
    };
    // Warm-up, and proof that the aggregator has loaded the new budget (its
    // cache refreshes every 500 ms; usage before that is not the budget's).
    for (let attempt = 0; (await visibleAfter(`warmup_${attempt}`, 2_000)) === null; attempt++) {
      if (attempt === 10) throw new Error("the aggregator never counted a warm-up event against the budget");
    }

    // Background: `rate` events/s in batches of 100, on a fixed schedule.
    let running = true;
    let sent = 0;
    let refused = 0;
    const inFlight = new Set<Promise<void>>();
    const background = (async () => {
      const intervalMs = (1000 * BATCH) / rate;
      const t0 = performance.now();
      for (let tick = 0; running; tick++) {
        const due = t0 + tick * intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const request = post(Array.from({ length: BATCH }, (_, i) => event(`bg_${(tick * BATCH + i) % 500}`)))
          .then(async (r) => {
            await r.arrayBuffer();
            if (r.status === 202) sent += BATCH;
            else refused++;
          })
          .catch(() => {
            refused++;
          })
          .finally(() => inFlight.delete(request));
        inFlight.add(request);
      }
    })();

    // Probes: one event for a fresh user, then poll the check until it shows.
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    let probe = 0;
    while (performance.now() < until) {
      const latency = await visibleAfter(`probe_${probe++}`);
      if (latency === null) throw new Error(`probe_${probe - 1}: usage not visible after 10 s`);
      latencies.push(latency);
      await sleep(50);
    }
    running = false;
    await background;
    await Promise.all(inFlight); // every background request answered before the services stop

    latencies.sort((a, b) => a - b);
    console.log("");
    console.log(`path     ingest → Kafka (librdkafka mock cluster, 6 partitions) → aggregator → Redis → enforcement`);
    console.log(
      `load     ${rate} events/s in batches of ${BATCH} for ${seconds} s (${sent} accepted, ${refused} requests refused)`,
    );
    console.log(`probes   ${latencies.length}, polled every ${POLL_MS} ms`);
    console.log("");
    console.log(
      `freshness p50 ${percentile(latencies, 0.5).toFixed(0)} ms   p99 ${percentile(latencies, 0.99).toFixed(0)} ms   max ${latencies[latencies.length - 1]?.toFixed(0)} ms   (goal p99 ≤ 250 ms)`,
    );
  } finally {
    await cleanup();
  }
}

await main();
