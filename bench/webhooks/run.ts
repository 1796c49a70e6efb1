/**
 * Webhooks, two figures (issue 15):
 *
 * 1. Throughput: the dispatcher delivering N signed messages to a local
 *    receiver (from the alerts being scheduled in ClickHouse to the last
 *    2xx, every attempt and outcome written to the server), against plain
 *    `fetch` posting the same payloads signed with standardwebhooks —
 *    sequentially, and `--concurrency` at a time. Ratio goal ≥ 0.8.
 * 2. Latency, distributed: from ingest's 202 for an event that crosses a
 *    budget's threshold to the verified delivery at the receiver (ingest →
 *    Kafka → aggregator → tollgate.alerts.v1 → the webhooks group →
 *    ClickHouse schedule → HTTP), p50/p99, beside bench:freshness.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:webhooks [--messages 2000] [--concurrency 64] [--probes 60] [--only throughput|latency]
 */
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import type { BudgetAlert } from "@tollgate/budgets";
import { createLogger } from "@tollgate/kit";
import {
  createSecretCipher,
  createWebhookDispatcher,
  DeliveryLog,
  newEndpoint,
  thresholdMessage,
  WebhookStore,
} from "@tollgate/webhooks";
import { Webhook } from "standardwebhooks";
import { distributedEnv, dropDatabase, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { type RunningProcess, startService } from "../../test/support/processes";
import { percentile } from "../ingest/table";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "64" },
    probes: { type: "string", default: "60" },
    only: { type: "string" },
  },
});
const MESSAGES = Number(args.messages);
const CONCURRENCY = Number(args.concurrency);
const PROBES = Number(args.probes);

for (const variable of ["REDIS_URL", "CLICKHOUSE_URL", "TOLLGATE_MOCK_BROKER_BIN"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

/** A receiver that answers 200 and tells each arrival (path, body, time). */
async function receiver(onArrival: (path: string, body: string, headers: Record<string, string>) => void) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      onArrival(req.url ?? "/", Buffer.concat(chunks).toString("utf8"), req.headers as Record<string, string>);
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: (path: string) => `http://127.0.0.1:${port}${path}`, close: () => server.close() };
}

function alert(i: number): BudgetAlert {
  return {
    alert_id: `bench-${runId()}-${i}`,
    budget_id: "bench",
    scope: { type: "user", id: "*" },
    member: `u${i}`,
    metric: "tokens",
    threshold_pct: 80,
    limit: 1000,
    used: 800,
    period: "all",
    resets_at: null,
    event_id: `e${i}`,
    at: new Date().toISOString(),
  };
}

async function throughput(): Promise<void> {
  const store = await freshClickHouseDatabase(runId("tg_bench_wh_"));
  let arrived = 0;
  let done: () => void = () => undefined;
  const rx = await receiver(() => {
    if (++arrived === MESSAGES) done();
  });
  const cipher = createSecretCipher("bench-master-key-of-at-least-24");
  const endpoints = new WebhookStore(store);
  await endpoints.start();
  const { endpoint, secret } = newEndpoint({ url: rx.url("/hook") }, null, cipher, Date.now());
  await endpoints.put(endpoint);
  const settings = {
    retrySchedule: [1000],
    allowHttp: true,
    allowPrivate: true,
    timeoutMs: 10_000,
    rotationOverlapSeconds: 0,
  };
  const alerts = Array.from({ length: MESSAGES }, (_, i) => alert(i));
  const bodies = alerts.map((a) => {
    const m = thresholdMessage(a);
    return { id: m.id, body: JSON.stringify({ type: m.type, timestamp: m.timestamp, data: m.data }) };
  });
  const signer = new Webhook(secret);
  const post = async ({ id, body }: { id: string; body: string }) => {
    const at = new Date();
    const res = await fetch(rx.url("/hook"), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": signer.sign(id, at, body),
      },
      body,
    });
    await res.arrayBuffer();
  };
  const timed = async (run: () => Promise<void>) => {
    arrived = 0;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const t0 = performance.now();
    await run();
    await finished;
    return MESSAGES / ((performance.now() - t0) / 1000);
  };
  const sequential = await timed(async () => {
    for (const b of bodies) await post(b);
  });
  const pooled = await timed(async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.length) await post(bodies[next++] as (typeof bodies)[number]);
      }),
    );
  });
  const dispatcher = createWebhookDispatcher({
    log: new DeliveryLog(store),
    endpoints,
    budgetOrg: () => null,
    cipher,
    settings,
    logger: createLogger("bench", "warn"),
  });
  dispatcher.start();
  const ours = await timed(async () => {
    for (let i = 0; i < alerts.length; i += 500) await dispatcher.deliverAlerts(alerts.slice(i, i + 500));
  });
  await dispatcher.stop();
  endpoints.stop();
  rx.close();
  await dropDatabase(store);
  console.log(`\nthroughput, ${MESSAGES} messages to one endpoint on loopback (deliveries/s):`);
  console.log(`  fetch, sequential            ${sequential.toFixed(0)}`);
  console.log(`  fetch, ${CONCURRENCY} at a time          ${pooled.toFixed(0)}`);
  console.log(
    `  Tollgate dispatcher          ${ours.toFixed(0)}   ratio ${(ours / sequential).toFixed(2)} (÷ sequential), ${(ours / pooled).toFixed(2)} (÷ ${CONCURRENCY} at a time)`,
  );
}

async function latency(): Promise<void> {
  const broker = await startPrivateBroker(6);
  const store = await freshClickHouseDatabase(runId("tg_bench_wh_"));
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const processes: RunningProcess[] = [];
  const acked = new Map<string, number>();
  const latencies: number[] = [];
  let secret = "";
  const rx = await receiver((_path, body, headers) => {
    const payload = new Webhook(secret).verify(body, headers) as { data: { member: string } };
    const at = acked.get(payload.data.member);
    if (at !== undefined) latencies.push(performance.now() - at);
  });
  try {
    const env = {
      ...distributedEnv({
        brokers: broker.brokers,
        database: store.database,
        adminKey,
        keyPrefix: runId("whb"),
        logLevel: "warn",
      }),
      TOLLGATE_WEBHOOK_ALLOW_HTTP: "true",
      TOLLGATE_WEBHOOK_ALLOW_PRIVATE: "true",
    };
    const start = async (name: string) => {
      const { proc, url } = await startService(name, { ...env, LOG_LEVEL: "info" });
      processes.push(proc);
      return url;
    };
    const [ingest, enforcement] = await Promise.all([start("ingest"), start("enforcement")]);
    await start("aggregator");
    const headers = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    const created = await fetch(`${enforcement}/v1/webhooks`, {
      method: "POST",
      headers,
      body: JSON.stringify({ url: rx.url("/hook") }),
    });
    secret = ((await created.json()) as { secret: string }).secret;
    const budget = await fetch(`${enforcement}/v1/budgets/bench-wh`, {
      method: "PUT",
      headers,
      body: JSON.stringify({
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 1000,
        alert_thresholds_pct: [1],
      }),
    });
    if (budget.status !== 201) throw new Error(`budget: ${budget.status}`);
    /** One event of 10 tokens for a fresh user: 1 % of its budget, so one alert. */
    const send = async (user: string) => {
      const reply = await fetch(`${ingest}/v1/events`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          project_id: "p",
          user_id: user,
          agent_id: "a",
          model: "gpt-4o",
          usage: { input_tokens: 10, output_tokens: 0 },
        }),
      });
      await reply.arrayBuffer();
      acked.set(user, performance.now());
    };
    const arrivedFor = async (n: number, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (latencies.length < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return latencies.length >= n;
    };
    // Warm-up: until the aggregator has loaded the budget (reports before count for nothing).
    for (let i = 0; ; i++) {
      await send(`warm_${i}`);
      if (await arrivedFor(1, 2_000)) break;
      if (i === 15) throw new Error("no warm-up alert was delivered");
    }
    latencies.length = 0;
    for (let i = 0; i < PROBES; i++) {
      await send(`probe_${i}`);
      if (!(await arrivedFor(i + 1, 10_000))) throw new Error(`probe ${i} was not delivered within 10 s`);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`\nusage event → verified delivery, distributed, ${PROBES} probes one at a time (ms):`);
    console.log(
      `  p50 ${percentile(sorted, 0.5).toFixed(0)}   p99 ${percentile(sorted, 0.99).toFixed(0)}   max ${(sorted.at(-1) ?? 0).toFixed(0)}`,
    );
  } finally {
    await Promise.all(processes.map((p) => p.stop().catch(() => null)));
    rx.close();
    await broker.stop().catch(() => undefined);
    await dropDatabase(store).catch(() => undefined);
  }
}

if (args.only !== "latency") await throughput();
if (args.only !== "throughput") await latency();
