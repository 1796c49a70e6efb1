/**
 * bench/console: what the console costs over calling the API directly.
 *
 * 1. Data requests: every report request the Overview and Spenders pages
 *    make, over the 10-million-row database of `pnpm bench:sink --only
 *    reports` (tg_bench_reports_10m), issued (a) through the console —
 *    enforcement's /console/api/… with the session cookie and (b) directly —
 *    the reports service's /v1/reports/… with the key; the two alternate
 *    request by request, so drift hits both alike. Prints p50/p99 of each
 *    and the ratio of p50s (goal ≤ 1.2), and of the page's sum.
 * 2. The UI's JavaScript and CSS as shipped (packages/console/dist), gzipped
 *    (goal ≤ 250 KB of JavaScript).
 *
 * Usage (engines up: bash infra/local/up.sh && source .tollgate/infra/env):
 *   pnpm bench:sink --only reports --repeat 1   # once: makes the 10 M rows
 *   pnpm bench:console [--repeat 30] [--database tg_bench_reports_10m]
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { openServerStore } from "@tollgate/sql";
import { ensureConsoleBuilt } from "../../packages/console/ensure-built";
import { engineEnv, runId } from "../../test/support/engines";
import { startTs, waitReady } from "../../test/support/processes";
import { percentile } from "../ingest/table";

const { values: args } = parseArgs({
  options: {
    repeat: { type: "string", default: "30" },
    database: { type: "string", default: "tg_bench_reports_10m" },
  },
});
const REPEAT = Number(args.repeat);
const DATABASE = args.database as string;
const DIST = fileURLToPath(new URL("../../packages/console/dist/assets/", import.meta.url));

function shippedSizes(): { js: number; css: number } {
  const sizes = { js: 0, css: 0 };
  for (const file of readdirSync(DIST)) {
    const gz = gzipSync(readFileSync(join(DIST, file)), { level: 9 }).length;
    if (file.endsWith(".js")) sizes.js += gz;
    if (file.endsWith(".css")) sizes.css += gz;
  }
  return sizes;
}

/** The pages' report requests, with the parameters the pages send (org_1, the last 30 days, as bench/sink). */
function pageRequests(): Array<{ page: string; path: string }> {
  const now = new Date();
  const to = now.toISOString();
  const from = new Date(now.getTime() - 30 * 86_400_000).toISOString();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString();
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
  const q = (params: Record<string, string>) => new URLSearchParams({ org_id: "org_1", ...params }).toString();
  return [
    {
      page: "overview",
      path: `/v1/reports/spend?${q({ group_by: "org", granularity: "month", from: monthStart, to })}`,
    },
    { page: "overview", path: `/v1/reports/spend?${q({ group_by: "org", granularity: "day", from: dayStart, to })}` },
    { page: "overview", path: `/v1/reports/spend?${q({ group_by: "project", granularity: "day", from, to })}` },
    { page: "overview", path: `/v1/reports/top?${q({ by: "project", limit: "10", from, to })}` },
    { page: "overview", path: `/v1/reports/efficacy?${q({ from, to })}` },
    { page: "overview", path: `/v1/reports/unit-economics?${q({ from, to })}` },
    { page: "spenders", path: `/v1/reports/top?${q({ by: "project", limit: "20", from, to })}` },
    { page: "spenders", path: `/v1/reports/top?${q({ by: "project", limit: "20", from, to, format: "csv" })}` },
    // The drill-down, one click at a time: project_1's agents, then agent_1's users, then user_1's sessions.
    {
      page: "drill-down",
      path: `/v1/reports/top?${q({ by: "agent", limit: "20", from, to, project_id: "project_1" })}`,
    },
    {
      page: "drill-down",
      path: `/v1/reports/top?${q({ by: "user", limit: "20", from, to, project_id: "project_1", agent_id: "agent_1" })}`,
    },
    {
      page: "drill-down",
      path: `/v1/reports/top?${q({ by: "session", limit: "20", from, to, project_id: "project_1", agent_id: "agent_1", user_id: "user_1" })}`,
    },
  ];
}

async function timed(url: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return performance.now() - started;
}

async function main(): Promise<void> {
  ensureConsoleBuilt();
  const sizes = shippedSizes();
  console.log(
    `UI shipped, gzipped: JavaScript ${(sizes.js / 1024).toFixed(1)} KB (goal ≤ 250 KB), CSS ${(sizes.css / 1024).toFixed(1)} KB`,
  );

  const env = engineEnv();
  const store = await openServerStore({ url: env.clickhouseUrl, database: DATABASE });
  const rows = await store
    .query<{ n: number }>("SELECT count() AS n FROM usage_events")
    .then((r) => Number(r[0]?.n))
    .catch(() => 0);
  await store.close();
  if (rows < 1_000_000) {
    console.log(`\n${DATABASE} holds ${rows} rows: run \`pnpm bench:sink --only reports --repeat 1\` first.`);
    return;
  }

  const adminKey = `bench-${runId()}-${runId()}-${runId()}`;
  const common = {
    CLICKHOUSE_URL: env.clickhouseUrl,
    CLICKHOUSE_DATABASE: DATABASE,
    TOLLGATE_ADMIN_KEY: adminKey,
    LOG_LEVEL: "info",
  };
  const reports = startTs(
    "services/reports/src/index.ts",
    { ...common, REPORTS_PORT: "0", REPORTS_HOST: "127.0.0.1" },
    "reports",
  );
  const enforcement = startTs(
    "services/enforcement/src/index.ts",
    {
      ...common,
      ENFORCEMENT_PORT: "0",
      ENFORCEMENT_HOST: "127.0.0.1",
      REDIS_URL: env.redisUrl,
      REDIS_KEY_PREFIX: runId("benchconsole"),
    },
    "enforcement",
  );
  try {
    const [reportsUrl, enforcementUrl] = await Promise.all(
      [reports, enforcement].map(async (p) => `http://127.0.0.1:${(await p.waitForOutput(/"port":(\d+)/, 60_000))[1]}`),
    );
    await Promise.all([waitReady(reportsUrl as string), waitReady(enforcementUrl as string)]);
    const signIn = await fetch(`${enforcementUrl}/console/session`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: enforcementUrl as string },
      body: JSON.stringify({ key: adminKey }),
    });
    if (signIn.status !== 201) throw new Error(`sign-in: ${signIn.status}`);
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;

    console.log(`\n${DATABASE} (${rows.toLocaleString("en-US")} rows), org_1, ${REPEAT} runs each, p50 / p99 ms`);
    console.log(`${"request".padEnd(64)} ${"console".padStart(15)} ${"direct".padStart(15)}  ratio`);
    const sums = new Map<string, { console: number; direct: number }>();
    for (const { page, path } of pageRequests()) {
      const viaConsole: number[] = [];
      const direct: number[] = [];
      await timed(`${enforcementUrl}/console/api${path}`, { cookie }); // warm both once
      await timed(`${reportsUrl}${path}`, { authorization: `Bearer ${adminKey}` });
      for (let i = 0; i < REPEAT; i++) {
        viaConsole.push(await timed(`${enforcementUrl}/console/api${path}`, { cookie }));
        direct.push(await timed(`${reportsUrl}${path}`, { authorization: `Bearer ${adminKey}` }));
      }
      viaConsole.sort((a, b) => a - b);
      direct.sort((a, b) => a - b);
      const c50 = percentile(viaConsole, 0.5);
      const d50 = percentile(direct, 0.5);
      const sum = sums.get(page) ?? { console: 0, direct: 0 };
      sums.set(page, { console: sum.console + c50, direct: sum.direct + d50 });
      const shown = [...new URLSearchParams(path.split("?")[1])].filter(([k]) => !["org_id", "from", "to"].includes(k));
      const label = `${page} ${path.split("?")[0]?.replace("/v1/reports/", "")} ${shown.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      const cell = (sorted: number[]) =>
        `${percentile(sorted, 0.5).toFixed(1)} / ${percentile(sorted, 0.99).toFixed(1)}`.padStart(15);
      console.log(`${label.padEnd(64)} ${cell(viaConsole)} ${cell(direct)}  ${(c50 / d50).toFixed(2)}`);
    }
    for (const [page, sum] of sums) {
      console.log(
        `${`${page}: all its requests (sum of p50s)`.padEnd(64)} ${sum.console.toFixed(1).padStart(15)} ${sum.direct.toFixed(1).padStart(15)}  ${(sum.console / sum.direct).toFixed(2)} (goal ≤ 1.20)`,
      );
    }
  } finally {
    await Promise.all([reports.stop(), enforcement.stop()]);
  }
}

await main();
