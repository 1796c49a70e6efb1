/**
 * Ingest throughput, with its baseline side by side in the same run:
 *   baseline       a raw kafkajs producer sending the same Avro records, 100 per
 *                  send, 32 sends in flight, to the same broker (run first and last,
 *                  so drift of the machine shows as their difference)
 *   batched JSON   POST /v1/events, 100 events per request, 32 connections
 *   OTLP protobuf  POST /v1/traces, 100 `chat` spans per request, 32 connections
 * and the ratio of each to the baseline (goal ≥ 0.7). A script, not a test:
 * nothing is asserted on timings.
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm exec tsx bench/ingest/run.ts [--seconds 10] [--connections 32] [--warmup 2] [--rounds 3] [--only json|otlp]
 *
 * Each round runs baseline, workloads, baseline again and takes each
 * workload's ratio against that round's baseline mean; with more than one
 * round the median of the rounds' ratios is the figure (this machine's speed
 * drifts between runs, JSON alone ranged 0.64–0.89 in single runs one day).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { TOPICS } from "@tollgate/bus";
import type { SqlStore } from "@tollgate/sql";
import { dropDatabase, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { freePort, type RunningProcess, startBinary, startTs, waitReady } from "../../test/support/processes";
import { BATCH, jsonBody, otlpBody } from "./bodies";
import { type HttpWorkload, httpRun } from "./http-load";
import { rawProducerRun } from "./raw-producer";
import { printMedians, printReport, type Row } from "./table";

const UP = "bash infra/local/up.sh && source .tollgate/infra/env";
const PARTITIONS = 6;

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    warmup: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
    help: { type: "boolean", default: false },
  },
  allowPositionals: true, // `pnpm bench:ingest -- --seconds 3` passes a lone "--"
});
if (args.help) {
  console.log(
    `usage: ${UP}\n       pnpm exec tsx bench/ingest/run.ts [--seconds 10] [--connections 32] [--warmup 2] [--rounds 3] [--only json|otlp]`,
  );
  process.exit(0);
}
function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got "${value}"`);
    process.exit(2);
  }
  return n;
}
const seconds = positive("seconds", args.seconds);
const connections = Math.round(positive("connections", args.connections));
const warmupSeconds = positive("warmup", args.warmup);
const rounds = Math.round(positive("rounds", args.rounds));

const missing = ["CLICKHOUSE_URL", "TOLLGATE_MOCK_BROKER_BIN", "KAFKA_BROKERS", "REDIS_URL"].filter(
  (name) => !process.env[name],
);
if (missing.length > 0) {
  console.error(`${missing.join(", ")} not set: the local engines are not up or their env is not sourced.`);
  console.error(`Run first:  ${UP}`);
  process.exit(2);
}
const brokerBin = process.env.TOLLGATE_MOCK_BROKER_BIN as string;
if (!existsSync(brokerBin)) {
  console.error(`TOLLGATE_MOCK_BROKER_BIN=${brokerBin} does not exist. Run first:  ${UP}`);
  process.exit(2);
}

// --- cleanup: every resource registers how to undo itself, undone in reverse order, once ---
const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];
const children: RunningProcess[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of undo.reverse()) {
      await step.run().catch((err: unknown) => console.error(`cleanup: ${step.what} failed: ${String(err)}`));
    }
  })();
  return cleaning;
}
/** SIGTERM, then SIGKILL if it has not exited in time (ingest's own hard timeout is 15 s). */
async function stop(proc: RunningProcess, graceMs = 20_000): Promise<void> {
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), graceMs);
  await proc.stop("SIGTERM").finally(() => clearTimeout(timer));
}
// Last resort when exiting without a completed cleanup: no broker or ingest may outlive us
// (the broker ignores EOF on stdin, so it would run on).
process.on("exit", () => {
  for (const proc of children) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill();
});
let signals = 0;
let firstSignalAt = 0;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    process.exitCode = 130;
    // Ctrl-C reaches this process twice (from the terminal, and relayed by the
    // tsx/pnpm wrappers): only a signal a second later means "force". Forcing
    // skips dropping the database; the exit hook still kills the children.
    if (signals++ > 0) {
      if (Date.now() - firstSignalAt > 1_000) process.exit();
      return;
    }
    firstSignalAt = Date.now();
    console.error(`\n${signal}: stopping ingest and the broker, dropping the database (again to force)…`);
    void cleanUp().finally(() => process.exit());
  });
}

const progress = (message: string) => console.error(`· ${message}`);

async function startBroker(): Promise<string> {
  const proc = startBinary(
    brokerBin,
    ["--topic", `${TOPICS.usage}:${PARTITIONS}`, "--topic", `${TOPICS.deadLetter}:1`, "--topic", `${TOPICS.alerts}:1`],
    "mock broker",
  );
  children.push(proc);
  undo.push({ what: "stop the broker", run: () => stop(proc, 5_000) });
  return (await proc.waitForOutput(/BOOTSTRAP (\S+)/, 10_000))[1] as string;
}

async function freshDatabase(): Promise<SqlStore> {
  try {
    const store = await freshClickHouseDatabase(runId("tg_bench_"));
    undo.push({ what: `drop database ${store.database}`, run: () => dropDatabase(store) });
    progress(`database ${store.database} (dropped at the end)`);
    return store;
  } catch (err) {
    throw new Error(
      `ClickHouse at ${process.env.CLICKHOUSE_URL} did not take a fresh database (${String(err)}); ${UP}`,
    );
  }
}

async function startIngest(env: Record<string, string>): Promise<{ base: string; proc: RunningProcess }> {
  const port = await freePort();
  const proc = startTs(
    "services/ingest/src/index.ts",
    { ...env, INGEST_PORT: String(port), INGEST_HOST: "127.0.0.1", LOG_LEVEL: "warn" },
    "ingest",
    ["OTEL_EXPORTER_OTLP_ENDPOINT"], // exporting its own traces would cost ingest CPU the bench does not mean to measure
  );
  children.push(proc);
  undo.push({ what: "stop ingest", run: () => stop(proc) });
  const base = `http://127.0.0.1:${port}`;
  // Fail fast with its output if it exits (bad env, no broker) instead of waiting for the deadline.
  const died = proc.exited().then((code) => {
    throw new Error(`ingest exited (code ${code}) before it was ready:\n${proc.output().slice(-3000)}`);
  });
  died.catch(() => undefined); // it rejects again when cleanup stops ingest; nobody waits then
  await Promise.race([waitReady(base, 60_000), died]);
  return { base, proc };
}

async function main(): Promise<number> {
  progress("starting a private mock broker");
  const brokers = await startBroker();
  progress(`broker at ${brokers}; creating a fresh ClickHouse database`);
  const store = await freshDatabase();
  const adminKey = randomBytes(24).toString("hex");
  const ingest = await startIngest({
    KAFKA_BROKERS: brokers,
    CLICKHOUSE_URL: process.env.CLICKHOUSE_URL as string,
    CLICKHOUSE_DATABASE: store.database,
    TOLLGATE_ADMIN_KEY: adminKey,
  });
  progress(`ingest ready at ${ingest.base}`);

  const auth = `Bearer ${adminKey}`;
  const workloads: HttpWorkload[] = [
    {
      name: "POST /v1/events, batched JSON",
      url: `${ingest.base}/v1/events`,
      headers: { authorization: auth, "content-type": "application/json" },
      body: jsonBody(),
      okStatus: 202,
      acceptedIn: async (reply) => Number(((await reply.json()) as { accepted?: number }).accepted ?? 0),
    },
    {
      name: "POST /v1/traces, OTLP protobuf",
      url: `${ingest.base}/v1/traces`,
      headers: { authorization: auth, "content-type": "application/x-protobuf" },
      body: await otlpBody(),
      okStatus: 200,
      acceptedIn: async (reply) => {
        const response = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await reply.arrayBuffer()));
        return BATCH - Number(response.partialSuccess?.rejectedSpans ?? 0);
      },
      whenMissing: "OTLP: endpoint not available",
    },
  ];

  // After Ctrl-C cleanup is under way: start nothing new.
  const checkInterrupted = () => {
    if (signals > 0) throw new Error("interrupted");
  };
  const baseline = (name: string) => {
    checkInterrupted();
    progress(`${name}: ${warmupSeconds} s warm-up + ${seconds} s`);
    return rawProducerRun({ name, brokers, seconds, warmupSeconds, concurrency: connections });
  };
  const chosen = workloads.filter((w) => !args.only || w.name.toLowerCase().includes(args.only.toLowerCase()));
  const cpu = cpus();
  const context = {
    machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown cpu"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()}/${arch()}`,
    node: process.version,
    broker: `librdkafka mock cluster (in-memory), 1 broker, ${TOPICS.usage} × ${PARTITIONS} partitions, at ${brokers}`,
    setup: `${seconds} s per workload after ${warmupSeconds} s warm-up, ${connections} connections / sends in flight, ${BATCH} events per request or send, ${rounds} round(s); load generator, broker and ingest share this machine`,
  };
  let failures = 0;
  const ratios = new Map<string, number[]>();
  for (let round = 1; round <= rounds; round++) {
    const rows: { baseline: Row[]; ingest: Row[] } = { baseline: [], ingest: [] };
    rows.baseline.push(await baseline("raw kafkajs producer (1st)"));
    for (const workload of chosen) {
      checkInterrupted();
      progress(`${workload.name}: ${warmupSeconds} s warm-up + ${seconds} s`);
      const { row, failed } = await httpRun(workload, { seconds, warmupSeconds, connections });
      rows.ingest.push(row);
      if (failed) failures++;
      if (ingest.proc.child.exitCode !== null) {
        throw new Error(`ingest exited during "${workload.name}":\n${ingest.proc.output().slice(-3000)}`);
      }
    }
    rows.baseline.push(await baseline("raw kafkajs producer (2nd)"));

    const measured = rows.baseline.map((row) => row.eventsPerSecond);
    const mean = measured.reduce((a, b) => a + b, 0) / measured.length;
    if (rounds > 1) console.log(`\nround ${round} of ${rounds}`);
    printReport(round === 1 ? context : {}, rows, mean);
    for (const row of rows.ingest) {
      if (!row.unavailable) ratios.set(row.name, [...(ratios.get(row.name) ?? []), row.eventsPerSecond / mean]);
    }
  }
  if (rounds > 1) printMedians(ratios);
  return failures;
}

try {
  const failures = await main();
  if (failures > 0) process.exitCode = 1;
} catch (err) {
  // After Ctrl-C, errors are the interrupted work's, not news.
  if (signals === 0) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
} finally {
  await cleanUp();
}
// kafkajs or autocannon may keep a timer alive; the run is over.
process.exit();
