/**
 * Ingest throughput, with its ceiling measured side by side in the same run:
 *   1. batched JSON   POST /v1/events, 100 events per request
 *   2. OTLP protobuf  POST /v1/traces, 100 model-call spans per request
 *   3. baseline       a raw kafkajs producer sending the same Avro records,
 *                     100 per send, to the same broker with the same concurrency
 * and the ratio of each to the baseline (goal ≥ 0.7).
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:ingest [--seconds 10] [--connections 32]
 */
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { context, trace } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import autocannon from "autocannon";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { startTs, waitReady } from "../../test/support/processes";
import { rawProducerRun } from "./raw-producer";
import { printTable, type Row } from "./table";

const BATCH = 100;
const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "10" }, connections: { type: "string", default: "32" } },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);

for (const variable of ["CLICKHOUSE_URL", "TOLLGATE_MOCK_BROKER_BIN"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

function jsonBody(): string {
  return JSON.stringify({
    events: Array.from({ length: BATCH }, (_, i) => ({
      project_id: "bench_project",
      user_id: `user_${i % 50}`,
      agent_id: "bench-agent",
      model: "gpt-4o",
      usage: { prompt_tokens: 1040, completion_tokens: 450 },
    })),
  });
}

/** 100 chat spans under one agent span, made and serialised by the official OpenTelemetry packages. */
function otlpBody(): Buffer {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "bench-agent", "tollgate.project.id": "bench_project" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("bench");
  const agent = tracer.startSpan("invoke_agent", {
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "bench-agent", "user.id": "user_1" },
  });
  const inAgent = trace.setSpan(context.active(), agent);
  for (let i = 0; i < BATCH; i++) {
    tracer
      .startSpan(
        "chat gpt-4o",
        {
          attributes: {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1040,
            "gen_ai.usage.output_tokens": 450,
          },
        },
        inAgent,
      )
      .end();
  }
  agent.end();
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(memory.getFinishedSpans()) as Uint8Array);
}

async function load(
  url: string,
  headers: Record<string, string>,
  body: string | Buffer,
  duration: number,
): Promise<autocannon.Result> {
  return autocannon({ url, method: "POST", headers, body, connections, duration, pipelining: 1 });
}

async function main(): Promise<void> {
  const broker = await startPrivateBroker(6);
  const store = await freshClickHouseDatabase(runId("tg_bench_"));
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const ingest = startTs(
    "services/ingest/src/index.ts",
    {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      INGEST_PORT: "0",
      INGEST_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    },
    "ingest",
  );
  const cleanup = async () => {
    await ingest.stop().catch(() => undefined);
    await broker.stop().catch(() => undefined);
    await dropDatabase(store).catch(() => undefined);
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    const port = Number((await ingest.waitForOutput(/"port":(\d+)/, 60_000))[1]);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base);
    const auth = { authorization: `Bearer ${adminKey}` };
    const workloads = [
      {
        name: "ingest: batched JSON",
        url: `${base}/v1/events`,
        headers: { ...auth, "content-type": "application/json" },
        body: jsonBody(),
        ok: 202,
      },
      {
        name: "ingest: OTLP protobuf",
        url: `${base}/v1/traces`,
        headers: { ...auth, "content-type": "application/x-protobuf" },
        body: otlpBody(),
        ok: 200,
      },
    ];

    const rows: Row[] = [];
    // The baseline first and last: the machine's drift shows as their difference.
    const baseline = await rawProducerRun({ brokers: broker.brokers, seconds, concurrency: connections, batch: BATCH });
    rows.push({ name: "baseline: raw kafkajs producer", ...baseline });
    for (const w of workloads) {
      await load(w.url, w.headers, w.body, 2); // warm-up: connections, JIT, producer metadata
      const result = await load(w.url, w.headers, w.body, seconds);
      const okReplies = result.statusCodeStats?.[String(w.ok) as keyof typeof result.statusCodeStats]?.count ?? 0;
      rows.push({
        name: w.name,
        eventsPerSecond: (okReplies * BATCH) / seconds,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        note: okReplies === result.requests.total ? "" : `${result.requests.total - okReplies} non-${w.ok} replies`,
      });
    }
    const again = await rawProducerRun({ brokers: broker.brokers, seconds, concurrency: connections, batch: BATCH });
    rows.push({ name: "baseline again", ...again });

    const ceiling = (baseline.eventsPerSecond + again.eventsPerSecond) / 2;
    printTable(rows, ceiling, {
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`,
      broker: "librdkafka mock cluster (in-memory, 1 broker, 6 partitions), on this machine",
      setup: `${seconds} s per workload, ${connections} connections / concurrent sends, ${BATCH} events per request`,
    });
  } finally {
    await cleanup();
  }
}

await main();
