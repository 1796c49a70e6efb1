import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { migrate, type SqlStore } from "@tollgate/sql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlEngines } from "../../../test/support/engines";
import { createSinkHandler } from "./service";

const { engines, cleanup } = sqlEngines("tg_sink_");
afterAll(cleanup);

const base = Date.parse("2026-11-23T22:10:00Z");
const HOUR = 3_600_000;

/** 600 distinct events over three hours across midnight, three projects, four users. */
function stream(): UsageEvent[] {
  return Array.from({ length: 600 }, (_, i) =>
    sampleUsageEvent({
      event_id: `evt-${i}`,
      timestamp_ms: base + (i % 3) * HOUR + i,
      org_id: "acme",
      project_id: `project-${i % 3}`,
      user_id: `user-${i % 4}`,
      agent_id: "agent",
      model: i % 2 === 0 ? "gpt-4o" : "claude-sonnet-4-5",
      input_tokens: 100 + i,
      output_tokens: 10 + (i % 7),
      total_tokens: 110 + i + (i % 7),
      cost_micro_usd: 1_000 + i * 3,
    }),
  );
}

describe.each(engines)("schema and sink on %s", (_name, open) => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.command(`DROP DATABASE IF EXISTS ${store.database}`);
    await store.close();
  });

  it("applies the migrations from empty, and again as a no-op", async () => {
    const first = await migrate(store);
    expect(first.applied).toContain("009_create_usage_daily");
    const again = await migrate(store);
    expect(again.applied).toEqual([]);
  });

  it("loads a stream with replays and duplicates exactly once into raw, hourly and daily", async () => {
    const events = stream();
    const sink = createSinkHandler(store, { maxRows: 250 });
    await sink(events.slice(0, 300));
    await sink(events.slice(0, 300)); // a batch replayed after a crash before the offset commit
    await sink([...events.slice(250, 600), events[599] as UsageEvent, events[10] as UsageEvent]); // overlaps and repeats

    const expected = new Map<string, { requests: number; tokens: number; cost: number }>();
    const add = (key: string, e: UsageEvent) => {
      const sum = expected.get(key) ?? { requests: 0, tokens: 0, cost: 0 };
      sum.requests++;
      sum.tokens += e.total_tokens;
      sum.cost += e.cost_micro_usd;
      expected.set(key, sum);
    };
    for (const e of events) {
      const iso = new Date(e.timestamp_ms).toISOString();
      add(`hour ${e.project_id} ${iso.slice(0, 13)}`, e);
      add(`day ${e.project_id} ${iso.slice(0, 10)}`, e);
    }

    const raw = await store.query<{ n: number; cost: number }>(
      "SELECT count() AS n, sum(cost_micro_usd) AS cost FROM usage_events FINAL",
    );
    expect(Number(raw[0]?.n)).toBe(600);
    expect(Number(raw[0]?.cost)).toBe(events.reduce((s, e) => s + e.cost_micro_usd, 0));
    // No FINAL needed on the raw table either: nothing was inserted twice.
    expect(Number((await store.query<{ n: number }>("SELECT count() AS n FROM usage_events"))[0]?.n)).toBe(600);

    const hourly = await store.query<{
      project_id: string;
      hour: string;
      requests: number;
      tokens: number;
      cost: number;
    }>(
      `SELECT project_id, formatDateTime(hour, '%Y-%m-%dT%H') AS hour, sum(requests) AS requests,
              sum(total_tokens) AS tokens, sum(cost_micro_usd) AS cost
       FROM usage_hourly GROUP BY project_id, hour ORDER BY project_id, hour`,
    );
    const daily = await store.query<{
      project_id: string;
      day: string;
      requests: number;
      tokens: number;
      cost: number;
    }>(
      `SELECT project_id, toString(day) AS day, sum(requests) AS requests,
              sum(total_tokens) AS tokens, sum(cost_micro_usd) AS cost
       FROM usage_daily GROUP BY project_id, day ORDER BY project_id, day`,
    );
    const got = new Map<string, { requests: number; tokens: number; cost: number }>();
    for (const r of hourly)
      got.set(`hour ${r.project_id} ${r.hour}`, {
        requests: Number(r.requests),
        tokens: Number(r.tokens),
        cost: Number(r.cost),
      });
    for (const r of daily)
      got.set(`day ${r.project_id} ${r.day}`, {
        requests: Number(r.requests),
        tokens: Number(r.tokens),
        cost: Number(r.cost),
      });
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expected));
  });
});
