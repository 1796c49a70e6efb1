/**
 * Sink throughput and report latency, each with its baseline in the same run.
 *
 * 1. Loading: N events are put on a private broker's topic, then the sink
 *    (its own process, SINK_BATCH_ROWS 50,000) loads them into a fresh
 *    database; side by side, a direct @clickhouse/client insert of the same
 *    rows (batches of 50,000) into another fresh database on the same server.
 *    Prints rows/s of each and the ratio (goal ≥ 0.8). Both write the same
 *    schema, so both feed the same views (event ids, hourly, daily). Each
 *    round measures all three back to back; the figure is the median of the
 *    rounds' paired ratios (best run to best run is printed too).
 * 2. Reports: p50/p99 of each report of the reports service over 10 million
 *    generated rows. The rows are generated inside ClickHouse (INSERT …
 *    SELECT FROM numbers(10000000): 30 days, 5 orgs, 40 projects, 2,000 users,
 *    8 models, 6 task types, 500,000 sessions) into the database
 *    `tg_bench_reports_10m` on the engines' ClickHouse server, kept between
 *    runs (`--regenerate` rebuilds it).
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:sink [--events 200000] [--rounds 5] [--repeat 20] [--regenerate]
 *
 * librdkafka's mock broker keeps only the newest ~24,000 records of a
 * partition (about 380,000 on the 16 partitions used here): the events are
 * produced before the sink starts, so keep --events below that.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { createClient } from "@clickhouse/client";
import { createKafka, createKafkaPublisher, TOPICS } from "@tollgate/bus";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import { migrate, openServerStore, type SqlStore, usageEventRow } from "@tollgate/sql";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { startPrivateBroker } from "../../test/support/mock-broker";
import { eventually, startTs, waitReady } from "../../test/support/processes";
import { median, percentile } from "../ingest/table";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    repeat: { type: "string", default: "20" },
    regenerate: { type: "boolean", default: false },
    only: { type: "string" },
    rounds: { type: "string", default: "5" },
  },
  allowPositionals: true,
});
const EVENTS = Number(args.events);
const REPEAT = Number(args.repeat);
const ROUNDS = Number(args.rounds);
const BATCH = 50_000;
/** The mock keeps ~24,000 records a partition: 16 partitions hold the default 200,000 (it keeps ~5 MB a partition). */
const PARTITIONS = 16;
const REPORTS_DB = "tg_bench_reports_10m";

for (const variable of ["CLICKHOUSE_URL", "TOLLGATE_MOCK_BROKER_BIN"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

function events(): UsageEvent[] {
  const now = Date.now();
  return Array.from({ length: EVENTS }, (_, i) =>
    sampleUsageEvent({
      event_id: randomUUID(),
      timestamp_ms: now - (i % 720) * 3_600_000,
      org_id: `org_${i % 5}`,
      project_id: `project_${i % 40}`,
      user_id: `user_${i % 2000}`,
      session_id: `session_${i % 50_000}`,
      task_type: `task_${i % 6}`,
      model: `model_${i % 8}`,
      input_tokens: 500 + (i % 1000),
      output_tokens: 100 + (i % 300),
      total_tokens: 600 + (i % 1000) + (i % 300),
      cost_micro_usd: 1_000 + (i % 9_000),
    }),
  );
}

async function loading(): Promise<void> {
  const rows = events();
  const databases: SqlStore[] = [];
  const logger = createLogger("bench", "silent");
  let sinkProc: ReturnType<typeof startTs> | undefined;
  let broker: Awaited<ReturnType<typeof startPrivateBroker>> | undefined;
  const fresh = async (prefix: string) => {
    const db = await freshClickHouseDatabase(runId(prefix));
    databases.push(db);
    return db;
  };
  /** Dropped as soon as measured: its parts' background merges would otherwise run during the next measurement. */
  const done = async (db: SqlStore) => {
    databases.splice(databases.indexOf(db), 1);
    await dropDatabase(db);
  };
  /** A private broker whose topic holds every row (a new one per sink run: the mock cannot reset a group's offsets). */
  const loadedBroker = async () => {
    const started = await startPrivateBroker(PARTITIONS);
    broker = started;
    const kafka = createKafka({ clientId: "bench-sink", brokers: [started.brokers], logger });
    const publisher = await createKafkaPublisher(kafka);
    for (let i = 0; i < rows.length; i += 10_000) await publisher.publish(rows.slice(i, i + 10_000));
    await publisher.close();
    // The mock broker drops a partition's oldest records past ~5 MB: refuse
    // to measure a topic that no longer holds every row (the sink could never finish).
    const admin = kafka.admin();
    await admin.connect();
    const held = (await admin.fetchTopicOffsets(TOPICS.usage)).reduce(
      (sum, p) => sum + Number(p.high) - Number(p.low),
      0,
    );
    await admin.disconnect();
    if (held !== rows.length) {
      throw new Error(`the broker holds ${held} of the ${rows.length} records produced: run with fewer --events`);
    }
    return started;
  };
  try {
    // Direct: the same rows through @clickhouse/client, same batch size, one
    // insert at a time and two at a time (as the sink runs them).
    const direct = async (inFlight: number) => {
      const db = await fresh("tg_bench_direct_");
      const client = createClient({ url: engineEnv().clickhouseUrl, database: db.database });
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        for (let i = next; i < rows.length; i = next) {
          next += BATCH;
          await client.insert({
            table: "usage_events",
            values: rows.slice(i, i + BATCH).map(usageEventRow),
            format: "JSONEachRow",
          });
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      const rate = rows.length / ((performance.now() - started) / 1000);
      await client.close();
      await done(db);
      return rate;
    };

    // Sink: its own process, from a freshly loaded topic into a fresh
    // database; timed from its first rows to the last (process start excluded).
    const sinkRun = async () => {
      const { brokers } = await loadedBroker();
      const db = await fresh("tg_bench_sink_");
      sinkProc = startTs(
        "services/sink/src/index.ts",
        {
          KAFKA_BROKERS: brokers,
          CLICKHOUSE_URL: engineEnv().clickhouseUrl,
          CLICKHOUSE_DATABASE: db.database,
          SINK_PORT: "0",
          SINK_HOST: "127.0.0.1",
          SINK_BATCH_ROWS: String(BATCH),
          LOG_LEVEL: "warn",
        },
        "sink",
      );
      const count = async () => Number((await db.query<{ n: number }>("SELECT count() AS n FROM usage_events"))[0]?.n);
      await eventually(async () => ((await count()) > 0 ? true : undefined), "the sink's first rows", 120_000);
      const started = performance.now();
      const firstRows = await count();
      await eventually(
        async () => ((await count()) >= rows.length ? true : undefined),
        "every row from the sink",
        600_000,
      );
      const rate = (rows.length - firstRows) / ((performance.now() - started) / 1000);
      await sinkProc.stop();
      sinkProc = undefined;
      await broker?.stop();
      broker = undefined;
      await done(db);
      return rate;
    };

    // Rounds, each measuring all three back to back. This server's speed
    // drifts between rounds (direct loads of the same rows ranged from 64,000
    // to 173,000 rows/s on one day here), so each round's sink run is
    // compared with the baseline measured just before it on the same server
    // state, and the median of those paired ratios is the figure; the best
    // run of each is printed too.
    const measured = { sink: [] as number[], one: [] as number[], two: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      measured.one.push(await direct(1));
      measured.two.push(await direct(2));
      measured.sink.push(await sinkRun());
    }
    const best = (r: number[]) => Math.max(...r);
    const paired = (baseline: number[]) => measured.sink.map((sink, i) => sink / (baseline[i] ?? Number.NaN));
    const runs = (r: number[]) => r.map((x) => x.toFixed(0)).join(", ");
    const line = (label: string, r: number[]) =>
      console.log(`  ${label.padEnd(42)} ${median(r).toFixed(0).padStart(9)} rows/s median (runs: ${runs(r)})`);
    const ratios = (label: string, baseline: number[], goal: string) => {
      const each = paired(baseline);
      console.log(
        `  ratio to ${label.padEnd(14)} ${median(each).toFixed(2)} median of rounds (${each.map((x) => x.toFixed(2)).join(", ")}); best to best ${(best(measured.sink) / best(baseline)).toFixed(2)}${goal}`,
      );
    };

    console.log(
      `\nloading ${rows.length} events (batches of ${BATCH}, ${ROUNDS} rounds, ClickHouse ${engineEnv().clickhouseUrl})`,
    );
    line("sink from the topic (two inserts at a time)", measured.sink);
    line("direct @clickhouse/client, one at a time", measured.one);
    line("direct @clickhouse/client, two at a time", measured.two);
    ratios("one at a time", measured.one, " (goal ≥ 0.80)");
    ratios("two at a time", measured.two, " (the sink's own concurrency)");
  } finally {
    await sinkProc?.stop();
    await broker?.stop();
    for (const db of databases) await dropDatabase(db);
  }
}

async function reports(): Promise<void> {
  const admin = await openServerStore({ url: engineEnv().clickhouseUrl, database: REPORTS_DB });
  await migrate(admin);
  const existing = Number((await admin.query<{ n: number }>("SELECT count() AS n FROM usage_events"))[0]?.n);
  if (args.regenerate || existing < 10_000_000) {
    await admin.command("TRUNCATE TABLE usage_events");
    for (const table of [
      "usage_event_ids",
      "usage_hourly",
      "usage_daily",
      "usage_hourly_unsettled",
      "usage_daily_unsettled",
    ])
      await admin.command(`TRUNCATE TABLE ${table}`);
    const started = performance.now();
    // One INSERT … SELECT per million rows: the views see each block as it is inserted.
    for (let m = 0; m < 10; m++) {
      await admin.command(`
        INSERT INTO usage_events
        SELECT
          concat('gen-', toString(number)) AS event_id,
          toDateTime(toUInt32(now()) - (number % 2592000)) AS timestamp,
          toUInt64(toUInt32(now()) - (number % 2592000)) * 1000 AS timestamp_ms,
          now() AS received_at,
          concat('org_', toString(number % 5)) AS org_id,
          concat('team_', toString(number % 10)) AS team_id,
          concat('project_', toString(number % 40)) AS project_id,
          concat('user_', toString(number % 2000)) AS user_id,
          concat('agent_', toString(number % 100)) AS agent_id,
          concat('session_', toString(number % 500000)) AS session_id,
          concat('feature_', toString(number % 12)) AS feature,
          concat('task_', toString(number % 6)) AS task_type,
          'openai' AS provider,
          concat('model_', toString(number % 8)) AS model,
          '' AS trace_id, '' AS span_id,
          500 + number % 1000 AS input_tokens,
          100 + number % 300 AS output_tokens,
          600 + number % 1000 + number % 300 AS total_tokens,
          0 AS cached_input_tokens, 0 AS cache_creation_input_tokens, 0 AS reasoning_tokens,
          1000 + number % 9000 AS cost_micro_usd,
          'priced' AS cost_source, '' AS reservation_id, 'ok' AS status, 'json' AS source, '' AS key_id
        FROM numbers(${m * 1_000_000}, 1000000)`);
    }
    console.log(
      `\ngenerated 10,000,000 rows in ${REPORTS_DB} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  await admin.close();

  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const proc = startTs(
    "services/reports/src/index.ts",
    {
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: REPORTS_DB,
      TOLLGATE_ADMIN_KEY: adminKey,
      REPORTS_PORT: "0",
      REPORTS_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    },
    "reports",
  );
  try {
    const port = (await proc.waitForOutput(/"port":(\d+)/, 60_000))[1];
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base);
    const range = {
      org_id: "org_1",
      from: new Date(Date.now() - 30 * 86_400_000).toISOString(),
      to: new Date().toISOString(),
    };
    const reportsToRun: Array<[string, Record<string, string>]> = [
      ["spend", { group_by: "project", granularity: "day" }],
      ["spend", { group_by: "user", granularity: "month" }],
      ["spend", { group_by: "model", granularity: "hour" }],
      ["top", { by: "user", limit: "10" }],
      ["efficacy", { project_id: "project_1" }],
      ["unit-economics", {}],
      ["spend", { group_by: "project", granularity: "day", format: "csv" }],
    ];
    console.log(`\nreports over 10,000,000 rows (${REPORTS_DB}), org_1, last 30 days, ${REPEAT} runs each`);
    for (const [report, params] of reportsToRun) {
      const url = `${base}/v1/reports/${report}?${new URLSearchParams({ ...range, ...params })}`;
      const times: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        const started = performance.now();
        const res = await fetch(url, { headers: { authorization: `Bearer ${adminKey}` } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${report}: ${res.status}`);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      console.log(
        `  ${`${report} ${new URLSearchParams(params)}`.padEnd(52)} p50 ${percentile(times, 0.5).toFixed(0).padStart(5)} ms   p99 ${percentile(times, 0.99).toFixed(0).padStart(5)} ms`,
      );
    }
  } finally {
    await proc.stop();
  }
}

if (args.only !== "reports") await loading();
if (args.only !== "loading") await reports();
