import { createKeyBuilder } from "@tollgate/counters";
import type { SqlStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { call } from "../support/http";
import { eventually, freePort, type RunningProcess, startBinary, startService } from "../support/processes";

const COMMAND_TIMEOUT_MS = 200;
/** "Never hangs": far below any client timeout, far above the command timeout. */
const HANG_BOUND_MS = 3_000;

/**
 * Enforcement with its Redis gone or stalled: every check still answers,
 * promptly, with the stated failure policy — the service's default (open)
 * or a budget's own (closed) — and says why. A private redis-server is
 * used so it can be killed and stalled without touching anything else.
 */
describe("enforcement with Redis down or slow", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  let redisPort = 0;
  let redisServer: RunningProcess | undefined;
  let store: SqlStore;
  let enforcement: RunningProcess;
  let url = "";

  const startRedis = async () => {
    redisServer = startBinary(
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      "redis-server",
    );
    await redisServer.waitForOutput(/Ready to accept connections/, 10_000);
  };

  /** What the aggregator does once its counters are complete (no aggregator runs here). */
  const markCountersComplete = async () => {
    const redis = new Redis(redisPort, "127.0.0.1");
    await redis.hset(createKeyBuilder("tg").countersState(), "partitions", "1", "p0", String(Date.now()));
    redis.disconnect();
  };

  beforeAll(async () => {
    redisPort = await freePort();
    await startRedis();
    await markCountersComplete();
    store = await freshClickHouseDatabase();
    ({ proc: enforcement, url } = await startService("enforcement", {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      TOLLGATE_FAILURE_POLICY: "open",
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      LOG_LEVEL: "info",
    }));
    const put = (id: string, body: unknown) => call("PUT", `${url}/v1/budgets/${id}`, { key: adminKey, json: body });
    const day = { type: "calendar", unit: "day" };
    expect(
      (await put("open-users", { scope: { type: "user", id: "*" }, metric: "tokens", window: day, limit: 1_000 }))
        .status,
    ).toBe(201);
    expect(
      (
        await put("closed-vip", {
          scope: { type: "project", id: "vip" },
          metric: "tokens",
          window: day,
          limit: 1_000,
          failure_policy: "closed",
        })
      ).status,
    ).toBe(201);
  });

  afterAll(async () => {
    await enforcement?.stop();
    await redisServer?.stop("SIGKILL");
    if (store) await dropDatabase(store);
  });

  const timedCheck = async (body: Record<string, unknown>) => {
    const started = performance.now();
    const reply = await call("POST", `${url}/v1/check`, {
      key: adminKey,
      json: { model: "gpt-4o", input_tokens: 10, max_output_tokens: 10, reserve: true, ...body },
    });
    return { ...reply, ms: performance.now() - started };
  };

  it("decides normally with Redis up", async () => {
    const ok = await eventually(async () => {
      const reply = await timedCheck({ user_id: "u1", project_id: "vip" });
      return reply.body.reservation_id ? reply : undefined; // enforcement polls the counters state every 500 ms
    }, "enforcement to trust the counters");
    expect(ok.status).toBe(200);
    expect(ok.body.decision).toBe("allow");
    expect(ok.body.reservation_id).toMatch(/^rsv_/);
  });

  it("with Redis killed: fails open by default, closed where the budget says, without hanging", async () => {
    await redisServer?.stop("SIGKILL");
    for (let i = 0; i < 5; i++) {
      const open = await timedCheck({ user_id: "u1", project_id: "ordinary" });
      expect(open.status).toBe(200);
      expect(open.body.decision).toBe("allow");
      expect(open.body.reason).toMatch(/budget counters unavailable; failing open/);
      // Why Redis failed (its error text, its address) is for the logs only.
      expect(open.body.reason).not.toMatch(/ECONNREFUSED|Connection|closed\b|127\.0\.0\.1/);
      expect(open.body.reservation_id).toBeUndefined();
      expect(open.ms).toBeLessThan(HANG_BOUND_MS);

      const closed = await timedCheck({ user_id: "u1", project_id: "vip" });
      expect(closed.body.decision).toBe("deny");
      expect(closed.body.reason).toMatch(/budget closed-vip fails closed/);
      expect(closed.ms).toBeLessThan(HANG_BOUND_MS);
    }
    const usage = await call("GET", `${url}/v1/usage?user_id=u1`, { key: adminKey });
    expect(usage.status).toBe(503);
    expect(usage.headers.get("retry-after")).toBe("1");
    expect(usage.body).toEqual({ error: "unavailable", message: "usage counters unavailable" });
    // Readiness says which dependency fails, not why (open to anyone, so no error text, no address).
    const ready = await call("GET", `${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe("not_ready");
    expect(ready.body.checks).toContainEqual({ name: "redis", ok: false });
    expect(JSON.stringify(ready.body)).not.toMatch(/ECONNREFUSED|Connection|127\.0\.0\.1|timed out/);
  });

  it("with Redis stalled past the command timeout: the same policy, and normal service once it is back", async () => {
    await startRedis();
    // A restarted Redis without persistence has lost the counters: decided by policy until they are complete.
    const rebuilding = await timedCheck({ user_id: "u2", project_id: "ordinary" });
    expect(rebuilding.body.decision).toBe("allow");
    expect(rebuilding.body.reason).toMatch(/being rebuilt|unavailable/);
    await markCountersComplete();
    const back = await (async () => {
      for (;;) {
        const reply = await timedCheck({ user_id: "u2", project_id: "vip" });
        if (reply.body.reservation_id) return reply;
        await new Promise((resolve) => setTimeout(resolve, 200)); // ioredis reconnects with backoff
      }
    })();
    expect(back.body.decision).toBe("allow");

    const admin = new Redis(redisPort, "127.0.0.1");
    // Every client's commands wait 2 s from the moment this answers OK.
    expect(await admin.call("CLIENT", "PAUSE", "2000", "ALL")).toBe("OK");
    const stalled = await timedCheck({ user_id: "u2", project_id: "vip" });
    expect(stalled.body.decision).toBe("deny");
    expect(stalled.body.reason).toMatch(/budget counters unavailable; budget closed-vip fails closed/);
    expect(stalled.body.reason).not.toMatch(/Command timed out/);
    expect(stalled.ms).toBeLessThan(1_500); // answered long before the stall ends
    admin.disconnect();
  });
});
