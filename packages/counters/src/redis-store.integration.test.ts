import { randomBytes } from "node:crypto";
import { sampleUsageEvent } from "@tollgate/events";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createKeyBuilder } from "./keys";
import { createRedisCounterStore } from "./redis-store";

// Real Redis (REDIS_URL), isolated by a key prefix of this run.
const redis = new Redis(process.env.REDIS_URL as string);
const prefix = `it${randomBytes(4).toString("hex")}`;
const keys = createKeyBuilder(prefix);
const store = createRedisCounterStore(redis, keys);
const now = Date.parse("2026-11-22T12:00:00Z");

afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length > 0) await redis.del(...found);
  await redis.quit();
});

describe("Redis counter store", () => {
  it("applies an event once to every scope and window, atomically with its marker", async () => {
    const event = sampleUsageEvent({ event_id: "r1", team_id: "t1", session_id: "s1" });
    expect(await store.apply(event)).toBe(true);
    expect(await store.apply(event)).toBe(false);
    const totals = await store.totals({ org: "acme", user: "u1", team: "t1", session: "s1", model: "gpt-4o" }, now);
    const one = { tokens: 140, input_tokens: 100, output_tokens: 40, cost_micro_usd: 650, requests: 1 };
    for (const scope of ["user", "team", "session", "model"] as const) {
      expect(totals[scope]).toEqual({ day: one, month: one });
    }
    const ttl = await redis.ttl(keys.counter(keys.tenant("acme"), "user", "u1", "d20261122"));
    expect(ttl).toBeGreaterThan(2 * 24 * 3600);
    expect(await redis.ttl(keys.seenEvent(keys.tenant("acme"), "r1"))).toBeGreaterThan(60 * 24 * 3600);
  });

  it("counts exactly under concurrent duplicates", async () => {
    const events = Array.from({ length: 50 }, (_, i) =>
      sampleUsageEvent({
        event_id: `c${i}`,
        user_id: "concurrent",
        input_tokens: i,
        output_tokens: 1,
        total_tokens: i + 1,
        cost_micro_usd: 3,
      }),
    );
    // Every event three times, all at once.
    const results = await Promise.all([...events, ...events, ...events].map((e) => store.apply(e)));
    expect(results.filter(Boolean)).toHaveLength(50);
    const totals = await store.totals({ org: "acme", user: "concurrent" }, now);
    // Σ i for i < 50 = 1225 input tokens, 50 output, 150 µUSD, 50 requests.
    expect(totals.user?.day).toEqual({
      tokens: 1275,
      input_tokens: 1225,
      output_tokens: 50,
      cost_micro_usd: 150,
      requests: 50,
    });
  });

  it("keeps tenants apart and reads an absent counter as zero", async () => {
    await store.apply(sampleUsageEvent({ event_id: "t-other", org_id: "other", user_id: "u1" }));
    expect((await store.totals({ org: "other", user: "u1" }, now)).user?.day.requests).toBe(1);
    expect((await store.totals({ user: "u1" }, now)).user?.day).toEqual({
      tokens: 0,
      input_tokens: 0,
      output_tokens: 0,
      cost_micro_usd: 0,
      requests: 0,
    });
  });
});
