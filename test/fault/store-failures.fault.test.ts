import { createServer, type Server, type Socket } from "node:net";
import { applyIsolated } from "@tollgate/bus";
import { classifyFailure } from "@tollgate/kit";
import { openServerStore, type SqlStore } from "@tollgate/sql";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engineEnv, runId, sqlEngines } from "../support/engines";
import { freePort } from "../support/processes";

/** The error a promise rejects with (the test fails if it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure, got none");
}

const { engines, cleanup } = sqlEngines("tg_failures_");
afterAll(cleanup);

/**
 * classifyFailure against errors the real engines raise, as the stores and
 * clients Tollgate uses surface them. Catches: a data refusal taken for an
 * outage (a partition blocked for good), an outage or a deployment fault
 * taken for poison (good usage dead-lettered and skipped).
 */
describe.each(engines)("store failures on %s", (_name, open) => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await open();
    await store.command("CREATE TABLE probe (n UInt64, s String) ENGINE = Memory");
  });
  afterAll(async () => {
    await store.command(`DROP DATABASE IF EXISTS ${store.database}`);
    await store.close();
  });

  it("calls a value the column cannot take permanent", async () => {
    const negative = await failureOf(store.insertJsonLines("probe", ['{"n":-1,"s":"x"}']));
    expect(String(negative)).toMatch(/Code: 72/);
    expect(classifyFailure(negative)).toBe("permanent");
    const word = await failureOf(store.insert("probe", [{ n: "thirty", s: "x" }]));
    expect(classifyFailure(word)).toBe("permanent");
    // A lone UTF-16 surrogate, as JSON.stringify writes it: the embedded-mode incident of issue 13.
    const surrogate = await failureOf(store.insertJsonLines("probe", [JSON.stringify({ n: 1, s: "\ud800" })]));
    expect(String(surrogate)).toMatch(/Code: 25/);
    expect(classifyFailure(surrogate)).toBe("permanent");
  });

  it("calls a missing table transient: a deployment fault is fixed, not skipped", async () => {
    const missing = await failureOf(store.insertJsonLines("no_such_table", ['{"n":1}']));
    expect(String(missing)).toMatch(/Code: 60/);
    expect(classifyFailure(missing)).toBe("transient");
  });

  it("bisects a batch down to the rows the engine refuses and writes every other row", async () => {
    const lines = Array.from({ length: 37 }, (_, i) => JSON.stringify({ n: i, s: `row-${i}` }));
    lines[5] = '{"n":-5,"s":"row-5"}';
    lines[30] = '{"n":"thirty","s":"row-30"}';
    let calls = 0;
    const refused = await applyIsolated(lines, (part) => {
      calls++;
      return store.insertJsonLines("probe", part);
    });
    expect(refused.map((r) => r.index)).toEqual([5, 30]);
    expect(refused[0]?.reason).toMatch(/Code: 72/);
    const rows = await store.query<{ s: string }>("SELECT s FROM probe WHERE s LIKE 'row-%' ORDER BY n");
    expect(rows.map((r) => r.s)).toEqual(
      Array.from({ length: 37 }, (_, i) => `row-${i}`).filter((s) => s !== "row-5" && s !== "row-30"),
    );
    expect(calls).toBeLessThanOrEqual(2 * 2 * Math.ceil(Math.log2(37)) + 1);
  });
});

describe("store failures that are outages", () => {
  let silent: Server;
  let silentPort = 0;
  const held: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers: a hung server, as seen through a timeout.
    silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it("calls a refused ClickHouse connection transient", async () => {
    const port = await freePort();
    const refused = await failureOf(openServerStore({ url: `http://127.0.0.1:${port}`, database: runId("tg_") }));
    expect(String(refused)).toMatch(/ECONNREFUSED/);
    expect(classifyFailure(refused)).toBe("transient");
  });

  it("calls a ClickHouse request timeout transient", async () => {
    const timedOut = await failureOf(
      openServerStore({ url: `http://127.0.0.1:${silentPort}`, database: runId("tg_"), requestTimeoutMs: 300 }),
    );
    expect(String(timedOut)).toMatch(/timeout/i);
    expect(classifyFailure(timedOut)).toBe("transient");
  });

  it("calls a ClickHouse connection reset mid-request transient", async () => {
    const resetting = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, "127.0.0.1", resolve));
    const port = (resetting.address() as { port: number }).port;
    const reset = await failureOf(openServerStore({ url: `http://127.0.0.1:${port}`, database: runId("tg_") }));
    await new Promise((resolve) => resetting.close(resolve));
    expect(String(reset)).toMatch(/ECONNRESET|socket hang up/);
    expect(classifyFailure(reset)).toBe("transient");
  });

  it("calls an unreachable Redis transient", async () => {
    const port = await freePort();
    const redis = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    redis.on("error", () => undefined); // the connection errors are the point here
    const down = await failureOf(redis.incr("x"));
    redis.disconnect();
    expect(classifyFailure(down)).toBe("transient");
    const closed = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
    closed.on("error", () => undefined);
    const never = await failureOf(closed.connect());
    closed.disconnect();
    expect(classifyFailure(never)).toBe("transient");
  });
});

describe("Redis refusals", () => {
  let redis: Redis;
  const key = `${runId("tg-failures:")}:h`;
  beforeAll(() => {
    redis = new Redis(engineEnv().redisUrl);
  });
  afterAll(async () => {
    await redis.del(key, `${key}:s`);
    redis.disconnect();
  });

  it("calls a script's ERR reply to its arguments permanent", async () => {
    // As the counters' Lua would fail on an increment Redis cannot take.
    const refused = await failureOf(
      redis.eval("return redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])", 1, key, "not-a-number"),
    );
    expect(String(refused)).toMatch(/^ReplyError: ERR/);
    expect(classifyFailure(refused)).toBe("permanent");
  });

  it("calls WRONGTYPE permanent", async () => {
    await redis.set(`${key}:s`, "1");
    const wrong = await failureOf(redis.hincrby(`${key}:s`, "tokens", 1));
    expect(classifyFailure(wrong)).toBe("permanent");
  });
});
