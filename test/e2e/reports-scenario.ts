import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call } from "../support/http";
import type { SkeletonTarget } from "./skeleton-scenario";

/**
 * Reports over what ingest took in: spend by dimension and period, top
 * spenders, efficacy, unit economics, CSV, org scoping, and injection
 * attempts in every string parameter. The same in both modes.
 */
export function reportsScenario(target: () => SkeletonTarget): void {
  const org = runId("org_reports_");
  let viewerKey = "";
  const from = new Date(Date.now() - 3 * 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  // 2 projects × 3 users × 2 sessions × 3 calls; research tasks cost more.
  const events: Array<Record<string, unknown>> = [];
  for (const project of ["alpha", "beta"]) {
    for (const user of ["ann", "bob", "cy"]) {
      for (const session of [1, 2]) {
        for (let call = 0; call < 3; call++) {
          const research = project === "alpha";
          events.push({
            event_id: `${org}-${project}-${user}-${session}-${call}`,
            timestamp: new Date(Date.now() - 3_600_000).toISOString(),
            org_id: org,
            project_id: project,
            user_id: user,
            agent_id: "writer",
            session_id: `${project}-${user}-${session}`,
            task_type: research ? "research_summary" : "email_draft",
            model: "gpt-4o",
            usage: { input_tokens: research ? 1_000 : 100, output_tokens: (session + call) * 10 },
          });
        }
      }
    }
  }
  // gpt-4o: 2.5 µUSD per input token, 10 per output token.
  const cost = (e: Record<string, unknown>) => {
    const u = e.usage as { input_tokens: number; output_tokens: number };
    return Math.round(u.input_tokens * 2.5 + u.output_tokens * 10);
  };
  const query = (path: string, params: Record<string, string>, key = viewerKey) =>
    call("GET", `${target().reportsUrl}/v1/reports/${path}?${new URLSearchParams({ from, to, ...params })}`, { key });

  it("answers spend, top, efficacy and unit economics exactly, as JSON and CSV", async () => {
    const t = target();
    const viewer = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: t.adminKey,
      json: { role: "viewer", name: "finance", default_tags: { org_id: org } },
    });
    viewerKey = viewer.body.key;
    const accepted = await call("POST", `${t.ingestUrl}/v1/events`, { key: t.adminKey, json: { events } });
    expect(accepted.body).toMatchObject({ accepted: events.length });

    // One INSERT feeds both rollups, one view after the other: wait for both.
    const spend = await t.settle(async () => {
      const sum = (rows: Array<{ requests: number }> = []) => rows.reduce((s, r) => s + r.requests, 0);
      const daily = await query("spend", { group_by: "project", granularity: "day" });
      const hourly = await query("spend", { group_by: "project", granularity: "hour" });
      return sum(daily.body.rows) === events.length && sum(hourly.body.rows) === events.length
        ? daily.body.rows
        : undefined;
    }, "every event in the daily and hourly rollups");
    const byProject = (project: string) => events.filter((e) => e.project_id === project);
    const totals = (list: Array<Record<string, unknown>>) => list.reduce((s, e) => s + cost(e), 0);
    expect(spend.map((r: { project: string; cost_micro_usd: number }) => [r.project, r.cost_micro_usd])).toEqual([
      ["alpha", totals(byProject("alpha"))],
      ["beta", totals(byProject("beta"))],
    ]);

    // Without from/to: the last 30 days up to now, which holds this hour's events.
    const lastMonth = await call(
      "GET",
      `${t.reportsUrl}/v1/reports/top?${new URLSearchParams({ by: "project", limit: "10" })}`,
      { key: viewerKey },
    );
    expect(lastMonth.status).toBe(200);
    expect(lastMonth.body.rows.map((r: { project: string; requests: number }) => [r.project, r.requests])).toEqual([
      ["alpha", byProject("alpha").length],
      ["beta", byProject("beta").length],
    ]);

    const hourly = await query("spend", { group_by: "user", granularity: "hour", project_id: "beta" });
    expect(hourly.body.rows.map((r: { user: string; requests: number }) => [r.user, r.requests])).toEqual([
      ["ann", 6],
      ["bob", 6],
      ["cy", 6],
    ]);

    const topUser = await query("top", { by: "project", limit: "1" });
    expect(topUser.body.rows).toEqual([
      expect.objectContaining({ project: "alpha", cost_micro_usd: totals(byProject("alpha")) }),
    ]);

    const economics = await query("unit-economics", {});
    const taskCosts = (type: string) => {
      const perSession = new Map<string, number>();
      for (const e of events.filter((x) => x.task_type === type)) {
        perSession.set(e.session_id as string, (perSession.get(e.session_id as string) ?? 0) + cost(e));
      }
      return [...perSession.values()].sort((a, b) => a - b);
    };
    const research = taskCosts("research_summary");
    expect(economics.body.rows.find((r: { task_type: string }) => r.task_type === "research_summary")).toMatchObject({
      tasks: 6,
      avg_cost_micro_usd: Math.floor(research.reduce((a, b) => a + b, 0) / research.length),
    });

    const efficacy = await query("efficacy", { project_id: "alpha" });
    expect(efficacy.body.rows.map((r: { user_id: string; sessions: number }) => [r.user_id, r.sessions])).toEqual([
      ["ann", 2],
      ["bob", 2],
      ["cy", 2],
    ]);

    const csv = await call(
      "GET",
      `${t.reportsUrl}/v1/reports/spend?${new URLSearchParams({ from, to, group_by: "project", format: "csv" })}`,
      { key: viewerKey },
    );
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = String(csv.body).trim().split("\n");
    expect(lines[0]).toBe(
      "period,project,requests,input_tokens,output_tokens,total_tokens,cost_micro_usd,unsettled_requests,unsettled_cost_micro_usd",
    );
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain(`,alpha,18,`);
  });

  it("keeps bound keys in their org, refuses bad parameters by name, and never runs what a parameter says", async () => {
    const other = await query("spend", { org_id: "someone-else" });
    expect(other.status).toBe(403);
    const bad = await query("spend", { group_by: "password", granularity: "week" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(["granularity", "group_by"]);
    expect((await query("top", { limit: "0" })).status).toBe(400);

    const hostile = ["'; DROP TABLE usage_events; --", "\\' OR 1=1 --", "a\\\\b'c\"d", "x') UNION SELECT 1 --"];
    for (const value of hostile) {
      for (const param of ["project_id", "user_id", "agent_id", "model", "feature", "task_type", "team_id"]) {
        for (const report of ["spend", "top", "efficacy", "unit-economics"]) {
          const reply = await query(report, { [param]: value });
          expect([200, 400], `${report} ${param}=${value}`).toContain(reply.status);
          if (reply.status === 200) expect(reply.body.rows, `${report} ${param}=${value}`).toEqual([]);
        }
      }
    }
    const admin = await call(
      "GET",
      `${target().reportsUrl}/v1/reports/spend?${new URLSearchParams({ from, to, org_id: "'; DROP TABLE usage_daily; --" })}`,
      { key: target().adminKey },
    );
    expect(admin.status).toBe(200);
    expect(admin.body.rows).toEqual([]);
    // The tables are intact: the same report still sees every event.
    const after = await query("spend", { group_by: "project" });
    expect(after.body.rows.reduce((s: number, r: { requests: number }) => s + r.requests, 0)).toBe(events.length);
  });
}
