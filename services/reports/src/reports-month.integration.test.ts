import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { KeyStore } from "@tollgate/auth";
import { closeServer, createHttpApp, createLogger, finishHttpApp, listen, portOf } from "@tollgate/kit";
import { migrate, type SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlEngines } from "../../../test/support/engines";
import {
  efficacyOf,
  type ReportRange,
  type Row,
  spendOf,
  toCsv,
  topOf,
  topSessionsOf,
  unitEconomicsOf,
} from "../../../test/support/reports-oracle";
import { MONTH_FROM, MONTH_TO, usageMonth, withReplays } from "../../../test/support/usage-month";
import { createSinkHandler } from "../../sink/src/service";
import { DIMENSIONS } from "./queries";
import { createReportsRouter } from "./service";

/**
 * Every report over a generated month (both sides of a month boundary),
 * loaded through the real sink with replays, served by the reports router
 * over HTTP, as JSON and as CSV, on the ClickHouse server and on chDB. The
 * expected answers come from the generated events (test/support/reports-oracle.ts).
 */
const { engines, cleanup } = sqlEngines("tg_reports_");
afterAll(cleanup);

const events = usageMonth();
const GRANULARITIES = ["hour", "day", "month"] as const;
const wholeMonth: ReportRange = {
  org: "acme",
  from: new Date(MONTH_FROM).toISOString(),
  to: new Date(MONTH_TO).toISOString(),
};

describe.each(engines)("reports over a generated month on %s", (_name, open) => {
  const adminKey = randomBytes(24).toString("hex");
  let store: SqlStore;
  let keys: KeyStore;
  let server: Server;
  let baseUrl = "";
  let financeKey = "";

  beforeAll(async () => {
    store = await open();
    await migrate(store);
    // The real write path, handed what a consumer sees: replays, overlaps, retries.
    const sink = createSinkHandler(store, { maxRows: 2_000 });
    for (const batch of withReplays(events)) await sink(batch);

    keys = new KeyStore(store, adminKey);
    await keys.start();
    financeKey = (await keys.create({ role: "viewer", name: "finance", default_tags: { org_id: "acme" } })).key;
    // Wired as main.ts and embedded mode wire it, with this test's store.
    const logger = createLogger("reports", "silent");
    const app = createHttpApp({ logger, isShuttingDown: () => false, readiness: [] });
    app.use(createReportsRouter({ store, keys }));
    finishHttpApp(app, logger);
    server = await listen(app, 0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${portOf(server)}`;
  });
  afterAll(async () => {
    if (server) await closeServer(server);
    keys?.stop();
    if (store) {
      await store.command(`DROP DATABASE IF EXISTS ${store.database}`);
      await store.close();
    }
  });

  async function fetchReport(path: string, params: Record<string, string>, key: string, format: "json" | "csv") {
    const url = `${baseUrl}/v1/reports/${path}?${new URLSearchParams({ ...params, format })}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    const body = await res.text();
    expect(res.status, `${url}: ${body}`).toBe(200);
    expect(res.headers.get("content-type"), url).toMatch(format === "csv" ? /^text\/csv/ : /^application\/json/);
    return body;
  }

  /** One report as JSON and as CSV, both exactly as the oracle says. */
  async function expectReport(path: string, params: Record<string, string>, expected: Row[], key = financeKey) {
    const what = `${path} ${new URLSearchParams(params)}`;
    // Two empty answers would agree without proving anything.
    expect(expected.length, `${what}: the generated data should have rows here`).toBeGreaterThan(0);
    const [json, csv] = await Promise.all([
      fetchReport(path, params, key, "json"),
      fetchReport(path, params, key, "csv"),
    ]);
    expect((JSON.parse(json) as { rows: Row[] }).rows, what).toEqual(expected);
    expect(csv, what).toBe(toCsv(expected));
  }

  /** Spend by every dimension at every granularity, top N by every dimension, efficacy, unit economics. */
  async function expectEveryReport(range: ReportRange, key = financeKey) {
    const params: Record<string, string> = { from: range.from, to: range.to, ...range.filters };
    if (key === adminKey) params.org_id = range.org;
    for (const dimension of DIMENSIONS) {
      for (const granularity of GRANULARITIES) {
        await expectReport(
          "spend",
          { ...params, group_by: dimension, granularity },
          spendOf(events, range, dimension, granularity),
          key,
        );
      }
      for (const limit of [3, 1_000]) {
        await expectReport(
          "top",
          { ...params, by: dimension, limit: String(limit) },
          topOf(events, range, dimension, limit),
          key,
        );
      }
    }
    await expectReport("efficacy", params, efficacyOf(events, range), key);
    await expectReport("unit-economics", params, unitEconomicsOf(events, range), key);
  }

  it("holds every generated event exactly once, replays and retries notwithstanding", async () => {
    const submitted = withReplays(events).reduce((n, batch) => n + batch.length, 0);
    expect(submitted).toBeGreaterThan(events.length);
    const [raw] = await store.query<{ n: number }>("SELECT count() AS n FROM usage_events");
    const [hourly] = await store.query<{ n: number }>("SELECT sum(requests) AS n FROM usage_hourly");
    const [daily] = await store.query<{ n: number }>("SELECT sum(requests) AS n FROM usage_daily");
    expect([raw?.n, hourly?.n, daily?.n].map(Number)).toEqual([events.length, events.length, events.length]);
  });

  it("answers every report over the whole month, across the month boundary", async () => {
    expect(spendOf(events, wholeMonth, "org", "month").map((r) => r.period)).toEqual(["2026-10-01", "2026-11-01"]);
    await expectEveryReport(wholeMonth);
  });

  it("answers every report filtered by a project, and by a feature and model", async () => {
    await expectEveryReport({ ...wholeMonth, filters: { project_id: "2024" } });
    await expectEveryReport({ ...wholeMonth, filters: { feature: "search, rerank", model: "gpt-4o" } });
  });

  it("answers every report over a range that cuts both months partway through a day", async () => {
    // 13:30 UTC to 05:45:10 UTC: hours 13:00 through 05:00, days the 20th through the 7th, raw figures to the second.
    await expectEveryReport({ org: "acme", from: "2026-10-20T15:30:00+02:00", to: "2026-11-07T05:45:10Z" });
  });

  it("answers top by session from the raw events, over at most 31 days, filtered as drilled down", async () => {
    const cut = { org: "acme", from: "2026-10-20T15:30:00+02:00", to: "2026-11-07T05:45:10Z" };
    const bySession = (range: ReportRange, limit: number) => {
      const params: Record<string, string> = { from: range.from, to: range.to, ...range.filters };
      return [{ ...params, by: "session", limit: String(limit) }, topSessionsOf(events, range, limit)] as const;
    };
    for (const limit of [5, 1_000]) await expectReport("top", ...bySession(cut, limit));
    // The drill-down's last step: a project's agent's user's sessions.
    const [user] = topOf(events, { ...cut, filters: { project_id: "2024" } }, "user", 1);
    const drilled = { ...cut, filters: { project_id: "2024", user_id: String(user?.user) } };
    await expectReport("top", ...bySession(drilled, 1_000));
    const [params, expected] = bySession({ ...cut, org: "globex" }, 1_000);
    await expectReport("top", { ...params, org_id: "globex" }, expected, adminKey);
    // Longer than 31 days: refused, naming why (the other dimensions read rollups, and may span 400).
    const url = `${baseUrl}/v1/reports/top?${new URLSearchParams({ by: "session", from: wholeMonth.from, to: wholeMonth.to })}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${financeKey}` } });
    expect([res.status, JSON.stringify(await res.json())]).toEqual([400, expect.stringMatching(/at most 31 days/)]);
  });

  it("answers a report with no rows as an empty list, and as a CSV of just its header", async () => {
    const params = { from: wholeMonth.from, to: wholeMonth.to, project_id: "no-such-project" };
    const expected: Array<[string, Record<string, string>, string]> = [
      [
        "spend",
        { group_by: "agent", granularity: "day" },
        "period,agent,requests,input_tokens,output_tokens,total_tokens,cost_micro_usd,unsettled_requests,unsettled_cost_micro_usd",
      ],
      [
        "top",
        { by: "model" },
        "model,requests,input_tokens,output_tokens,total_tokens,cost_micro_usd,unsettled_requests,unsettled_cost_micro_usd",
      ],
      [
        "efficacy",
        {},
        "user_id,sessions,requests,total_tokens,cost_micro_usd,tokens_per_session,cost_micro_usd_per_session",
      ],
      ["unit-economics", {}, "task_type,tasks,avg_cost_micro_usd,p50_cost_micro_usd,p90_cost_micro_usd"],
    ];
    for (const [path, extra, header] of expected) {
      expect(JSON.parse(await fetchReport(path, { ...params, ...extra }, financeKey, "json"))).toEqual({ rows: [] });
      expect(await fetchReport(path, { ...params, ...extra }, financeKey, "csv")).toBe(`${header}\n`);
    }
  });

  it("reads another org with an admin key, and keeps the finance key to its own org", async () => {
    await expectEveryReport({ ...wholeMonth, org: "globex" }, adminKey);
    const url = `${baseUrl}/v1/reports/spend?${new URLSearchParams({ from: wholeMonth.from, to: wholeMonth.to, org_id: "globex" })}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${financeKey}` } });
    expect(res.status).toBe(403);
  });
});
