import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openServerStore, type SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distributedEnv, dropDatabase, engineEnv, runId } from "../support/engines";
import { call } from "../support/http";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import {
  eventually,
  freePort,
  REPO_ROOT,
  type RunningProcess,
  startBuilt,
  startTs,
  waitReady,
} from "../support/processes";

/**
 * What `pnpm build` makes runs with plain node (no tsx), and the distributed
 * services started from it never map chDB: when @tollgate/sql re-exported
 * the chDB store, each of them mapped the ~540 MB library (~200 MB of RSS).
 * Embedded mode, started as `pnpm start` does, maps it: the check can fail.
 */
const DISTRIBUTED = ["ingest", "enforcement", "aggregator", "sink", "reports"] as const;

/** infra/local/test-all.sh builds before the tests; a run of this file alone builds when dist/ is older than the code. */
function ensureBuilt(): void {
  const built = join(REPO_ROOT, "dist", "package.json"); // written last by infra/build.ts
  const sources = [
    ...["packages", "services"].flatMap((group) =>
      readdirSync(join(REPO_ROOT, group)).map((name) => join(REPO_ROOT, group, name, "src")),
    ),
    join(REPO_ROOT, "infra"),
    join(REPO_ROOT, "packages", "pricing", "data"),
  ].filter((dir) => existsSync(dir));
  const newest = Math.max(...sources.map(newestMtime));
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return;
  execFileSync(process.execPath, ["--import", "tsx", "infra/build.ts"], { cwd: REPO_ROOT, stdio: "pipe" });
}

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

/** The shared objects a process has mapped that belong to chDB (libchdb.so, its N-API addon). */
function chdbMappings(pid: number | undefined): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8").split("\n");
  expect(maps.length).toBeGreaterThan(10);
  return [...new Set(maps.map((line) => line.split(/\s+/).slice(5).join(" ")).filter((path) => /chdb/i.test(path)))];
}

describe("pnpm build output, distributed mode with plain node", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  const urls: Record<string, string> = {};
  const procs: RunningProcess[] = [];
  let broker: PrivateBroker;
  let store: SqlStore;

  beforeAll(async () => {
    ensureBuilt();
    const engines = engineEnv();
    broker = await startPrivateBroker();
    const database = runId("tg_build_");
    // The built migrator: reads the migrations copied into dist/assets.
    const migrator = startBuilt("migrate", { CLICKHOUSE_URL: engines.clickhouseUrl, CLICKHOUSE_DATABASE: database });
    expect(await migrator.exited(), migrator.output()).toBe(0);
    store = await openServerStore({ url: engines.clickhouseUrl, database });
    const base = {
      ...distributedEnv({
        brokers: broker.brokers,
        database,
        adminKey,
        keyPrefix: runId("build"),
        logLevel: "info",
      }),
    };
    await Promise.all(
      DISTRIBUTED.map(async (name) => {
        const prefix = name.toUpperCase();
        const proc = startBuilt(name, { ...base, [`${prefix}_PORT`]: "0", [`${prefix}_HOST`]: "127.0.0.1" });
        procs.push(proc);
        const port = (await proc.waitForOutput(/"port":(\d+)/, 60_000))[1];
        urls[name] = `http://127.0.0.1:${port}`;
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  it("serves /readyz from every built service", async () => {
    for (const name of DISTRIBUTED) await waitReady(urls[name] as string);
    for (const proc of procs) expect(proc.child.spawnargs.join(" ")).not.toMatch(/tsx/);
  });

  it("takes an event, prices it with the shipped table and stores it; answers a check", async () => {
    const eventId = runId("build-evt-");
    const accepted = await call("POST", `${urls.ingest}/v1/events`, {
      key: adminKey,
      json: {
        event_id: eventId,
        project_id: "build_project",
        user_id: "build_user",
        agent_id: "build-agent",
        model: "gpt-4o",
        usage: { prompt_tokens: 1040, completion_tokens: 450, total_tokens: 1490 },
      },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body).toMatchObject({ accepted: 1, rejected: [] });
    // Through Kafka and the built sink: the price table came from dist/assets (1040 × 2.5 + 450 × 10 µUSD).
    const [row] = await eventually(async () => {
      const rows = await store.query<{ cost_micro_usd: number }>(
        "SELECT cost_micro_usd FROM usage_events FINAL WHERE event_id = {id:String}",
        { id: eventId },
      );
      return rows.length > 0 ? rows : undefined;
    }, "the event in ClickHouse");
    expect(Number(row?.cost_micro_usd)).toBe(7100);

    const check = await call("POST", `${urls.enforcement}/v1/check`, {
      key: adminKey,
      json: { project_id: "build_project", user_id: "build_user", agent_id: "build-agent", model: "gpt-4o" },
    });
    expect(check.status, JSON.stringify(check.body)).toBe(200);
    expect(check.body).toHaveProperty("decision");
  });

  it("maps no chDB library in any distributed service", () => {
    for (const proc of procs) expect(chdbMappings(proc.child.pid), proc.output().slice(-500)).toEqual([]);
  });
});

describe("embedded mode (pnpm start)", () => {
  it("maps chDB, so the check above can fail", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "tollgate-build-embedded-"));
    const env = {
      TOLLGATE_DATA_DIR: dataDir,
      INGEST_PORT: String(await freePort()),
      ENFORCEMENT_PORT: String(await freePort()),
      REPORTS_PORT: String(await freePort()),
      TOLLGATE_ADMIN_KEY: `admin-${runId()}-${runId()}-${runId()}`,
      LOG_LEVEL: "warn",
    };
    const proc = startTs("services/embedded/src/index.ts", env, "embedded");
    try {
      await proc.waitForOutput(/admin key/, 60_000);
      expect(chdbMappings(proc.child.pid).join("\n")).toMatch(/libchdb/);
    } finally {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
