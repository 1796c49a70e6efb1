import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../support/engines";
import { call } from "../support/http";
import { freePort, type RunningProcess, startTs } from "../support/processes";
import { budgetScenario } from "./budget-scenario";
import { concurrencyScenario } from "./concurrency-scenario";
import { openClawScenario, otlpScenario } from "./otlp-scenario";
import { reportsScenario } from "./reports-scenario";
import { type SkeletonTarget, skeletonScenario } from "./skeleton-scenario";
import { tenancyScenario } from "./tenancy-scenario";

/**
 * Embedded mode as `pnpm start` runs it: one process, no external service.
 * Usage must be visible as soon as ingest answered (counters are applied
 * before the 202), so `settle` does not wait: it asserts at once.
 */
describe("walking skeleton, embedded mode", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "tollgate-embedded-"));
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  let proc: RunningProcess | undefined;
  const ports = { ingest: 0, enforcement: 0, reports: 0 };
  const urls = () => ({
    ingest: `http://127.0.0.1:${ports.ingest}`,
    enforcement: `http://127.0.0.1:${ports.enforcement}`,
  });

  async function start() {
    proc = startTs(
      "services/embedded/src/index.ts",
      {
        TOLLGATE_DATA_DIR: dataDir,
        INGEST_PORT: String(ports.ingest),
        ENFORCEMENT_PORT: String(ports.enforcement),
        REPORTS_PORT: String(ports.reports),
        TOLLGATE_ADMIN_KEY: adminKey,
        LOG_LEVEL: "warn",
      },
      "embedded",
    );
    await proc.waitForOutput(/admin key/, 60_000);
  }

  /** chDB admits one process per data directory: read it while the product is stopped, then start it again. */
  async function readStopped<T>(read: (store: SqlStore) => Promise<T>): Promise<T> {
    expect(await proc?.stop("SIGTERM")).toBe(0);
    const store = await openChdbStore({ path: join(dataDir, "chdb"), database: "tollgate" });
    try {
      return await read(store);
    } finally {
      await store.close();
      await start();
    }
  }

  beforeAll(async () => {
    ports.ingest = await freePort();
    ports.enforcement = await freePort();
    ports.reports = await freePort();
    await start();
  });
  afterAll(async () => {
    await proc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const target = (): SkeletonTarget => ({
    ingestUrl: urls().ingest,
    enforcementUrl: urls().enforcement,
    reportsUrl: `http://127.0.0.1:${ports.reports}`,
    adminKey,
    rowsFor: (eventId) =>
      readStopped((store) =>
        store.query("SELECT * FROM usage_events FINAL WHERE event_id = {id:String}", { id: eventId }),
      ),
    deadLettersWith: (marker) =>
      readStopped(async (store) =>
        (await store.query<{ reason: string; payload: string }>("SELECT reason, payload FROM dead_letters")).filter(
          (l) => l.payload.includes(marker),
        ),
      ),
    alertsFor: async (budgetId, expected) => {
      // Logged before the 202 that carried the usage; the pipe from the child may lag behind it.
      const line = (l: string) => l.includes('"budget alert"') && l.includes(`"budget_id":"${budgetId}"`);
      await proc?.waitForOutput(new RegExp(`(?:"budget_id":"${budgetId}"[\\s\\S]*){${expected}}`), 10_000);
      return (proc?.output() ?? "")
        .split("\n")
        .filter(line)
        .map((l) => JSON.parse(l).alert as Record<string, unknown>);
    },
    settle: async (probe, what) => {
      const value = await probe();
      if (value === undefined) throw new Error(`embedded mode: ${what} was not visible right after the 2xx`);
      return value;
    },
  });
  skeletonScenario(target);
  otlpScenario(target);
  openClawScenario(target);
  budgetScenario(target);
  reportsScenario(target);
  tenancyScenario(target);
  concurrencyScenario(target);

  it("rebuilds its counters from chDB after a restart, and keeps its keys", async () => {
    const created = await call("POST", `${urls().enforcement}/v1/keys`, {
      key: adminKey,
      json: { role: "agent", name: "restart", default_tags: { org_id: "restart-org" } },
    });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    const user = runId("user_");
    const event = {
      project_id: "p",
      user_id: user,
      agent_id: "a",
      model: "gpt-4o",
      usage: { input_tokens: 7, output_tokens: 3 },
    };
    expect((await call("POST", `${urls().ingest}/v1/events`, { key, json: event })).status).toBe(202);
    const before = (await call("GET", `${urls().enforcement}/v1/usage?user_id=${user}`, { key })).body.totals.user;
    expect(before.day).toMatchObject({ tokens: 10, requests: 1 });

    await readStopped(async () => undefined);
    const after = await call("GET", `${urls().enforcement}/v1/usage?user_id=${user}`, { key });
    expect(after.status).toBe(200);
    expect(after.body.totals.user).toEqual(before);
  });
});
