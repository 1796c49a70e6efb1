/**
 * Check throughput and latency, with its baselines side by side on the same
 * Redis in the same run (one process tree: each server its own process):
 *   tollgate  POST /v1/check on the enforcement service, three matching
 *             budgets (org, project, user), reserve: true
 *   rlf       the same three scopes with rate-limiter-flexible's consume
 *   ceiling   an express route doing one Redis command
 * Prints req/s and p50/p99 at full load, the ratios (goals: ≥ 1.2 × rlf,
 * ≥ 0.85 × ceiling), and p99 at a fixed 2,000 req/s (goal ≤ 5 ms), evenly
 * paced (paced.ts) and as autocannon's overallRate sends it (in bursts).
 *
 *   bash infra/local/up.sh && source .tollgate/infra/env
 *   pnpm bench:check [--seconds 10] [--connections 32]
 */
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../../test/support/engines";
import { freePort, type RunningProcess, startTs, waitReady } from "../../test/support/processes";
import { type PacedResult, pacedLatency } from "./paced";
import { CHECK_BODY as body } from "./request";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    "paced-seconds": { type: "string", default: "30" },
    connections: { type: "string", default: "32" },
  },
});
const seconds = Number(args.seconds);
/** The paced run's measured length: its p99 is the 1 % slowest of 2,000 × this many requests. */
const pacedSeconds = Number(args["paced-seconds"]);
const connections = Number(args.connections);
const FIXED_RATE = 2_000;
/** Paced load before the measured seconds, unrecorded: the server settles at this rate after the full-load runs. */
const PACED_WARMUP_SECONDS = 10;

for (const variable of ["REDIS_URL", "CLICKHOUSE_URL"]) {
  if (!process.env[variable]) {
    console.error(`${variable} is not set: run \`bash infra/local/up.sh && source .tollgate/infra/env\` first.`);
    process.exit(2);
  }
}

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}
interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  /** autocannon's overallRate: bursts each second (see paced.ts). */
  burstyP99: number;
  /** Evenly paced, open loop: the figure the goal is read against. */
  paced: PacedResult;
  errors: number;
}

async function measure(target: Target): Promise<Measured> {
  const common = { url: target.url, method: "POST" as const, headers: target.headers, body, connections };
  await autocannon({ ...common, duration: 2 }); // warm-up
  const full = await autocannon({ ...common, duration: seconds });
  const fixed = await autocannon({ ...common, duration: seconds, overallRate: FIXED_RATE });
  const paced = await pacedLatency({
    url: target.url,
    headers: target.headers,
    body,
    rate: FIXED_RATE,
    seconds: pacedSeconds,
    warmupSeconds: PACED_WARMUP_SECONDS,
    connections,
  });
  return {
    name: target.name,
    rps: full.requests.average,
    p50: full.latency.p50,
    p99: full.latency.p99,
    burstyP99: fixed.latency.p99,
    paced,
    errors: full.non2xx + full.errors + fixed.non2xx + fixed.errors + paced.failed,
  };
}

async function main(): Promise<void> {
  const prefix = runId("bench");
  const store = await freshClickHouseDatabase(runId("tg_bench_"));
  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const processes: RunningProcess[] = [];
  const cleanup = async () => {
    await Promise.all(processes.map((p) => p.stop().catch(() => null)));
    await dropDatabase(store).catch(() => undefined);
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

  try {
    const enforcement = startTs(
      "services/enforcement/src/index.ts",
      {
        REDIS_URL: engineEnv().redisUrl,
        REDIS_KEY_PREFIX: prefix,
        CLICKHOUSE_URL: engineEnv().clickhouseUrl,
        CLICKHOUSE_DATABASE: store.database,
        TOLLGATE_ADMIN_KEY: adminKey,
        ENFORCEMENT_PORT: "0",
        ENFORCEMENT_HOST: "127.0.0.1",
        LOG_LEVEL: "info",
      },
      "enforcement",
    );
    processes.push(enforcement);
    const port = Number((await enforcement.waitForOutput(/"port":(\d+)/, 60_000))[1]);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(base);
    const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    for (const [id, scope] of [
      ["bench-org-day", { type: "org", id: "bench-org" }],
      ["bench-project-day", { type: "project", id: "bench-project" }],
      ["bench-user-day", { type: "user", id: "*" }],
    ] as const) {
      const res = await fetch(`${base}/v1/budgets/${id}`, {
        method: "PUT",
        headers: auth,
        body: JSON.stringify({ scope, metric: "tokens", window: { type: "calendar", unit: "day" }, limit: 1e15 }),
      });
      if (res.status !== 201) throw new Error(`budget ${id}: ${res.status} ${await res.text()}`);
    }

    const targets: Target[] = [{ name: "tollgate check (3 budgets, reserve)", url: `${base}/v1/check`, headers: auth }];
    for (const mode of ["rlf", "ceiling"] as const) {
      const baselinePort = await freePort();
      const proc = startTs(
        "bench/check/baselines.ts",
        {
          BENCH_MODE: mode,
          BENCH_PORT: String(baselinePort),
          BENCH_REDIS_URL: engineEnv().redisUrl,
          BENCH_PREFIX: prefix,
        },
        mode,
      );
      processes.push(proc);
      await proc.waitForOutput(/LISTENING/, 30_000);
      targets.push({
        name: mode === "rlf" ? "rate-limiter-flexible (3 scopes)" : "ceiling: express + 1 Redis call",
        url: `http://127.0.0.1:${baselinePort}/v1/check`,
        headers: { "content-type": "application/json" },
      });
    }

    const results: Measured[] = [];
    for (const target of targets) results.push(await measure(target));
    const [tollgate, rlf, ceiling] = results as [Measured, Measured, Measured];

    console.log("");
    console.log(`machine  ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`);
    console.log(`redis    ${engineEnv().redisUrl} (the same server for all three)`);
    console.log(
      `setup    ${seconds} s per run, ${connections} connections; fixed-rate runs at ${FIXED_RATE} req/s (paced: ${PACED_WARMUP_SECONDS} s unrecorded, then ${pacedSeconds} s)`,
    );
    console.log("");
    console.log(`${"".padEnd(40)}${"full load".padStart(25)}${`at ${FIXED_RATE} req/s: p50/p99 ms`.padStart(30)}`);
    console.log(
      `${"target".padEnd(40)}${"req/s".padStart(9)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}${"paced".padStart(16)}${"bursty p99".padStart(14)}  errors`,
    );
    for (const r of results) {
      const paced = `${r.paced.p50.toFixed(2)}/${r.paced.p99.toFixed(2)}`;
      console.log(
        `${r.name.padEnd(40)}${r.rps.toFixed(0).padStart(9)}${r.p50.toFixed(1).padStart(8)}${r.p99.toFixed(1).padStart(8)}${paced.padStart(16)}${r.burstyP99.toFixed(1).padStart(14)}  ${r.errors}`,
      );
    }
    console.log(
      `paced: open loop, sent at ${results.map((r) => r.paced.sentPerSecond.toFixed(0)).join(" / ")} req/s; bursty: autocannon overallRate (each connection sends its share of a second back to back; 1 ms resolution)`,
    );
    console.log("");
    console.log(`tollgate ÷ rate-limiter-flexible  ${(tollgate.rps / rlf.rps).toFixed(2)}   (goal ≥ 1.20)`);
    console.log(`tollgate ÷ ceiling                ${(tollgate.rps / ceiling.rps).toFixed(2)}   (goal ≥ 0.85)`);
    console.log(`tollgate p99 at ${FIXED_RATE} req/s        ${tollgate.paced.p99.toFixed(2)} ms paced (goal ≤ 5 ms)`);
  } finally {
    await cleanup();
  }
}

await main();
