import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, freePort } from "../../../test/support/processes";
import { startTcpProxy } from "../../../test/support/tcp-proxy";
import { BudgetExceededError, createTollgate, type Logger, type TollgateOptions, TollgateUnavailableError } from ".";
import { startTestTollgate } from "./test-tollgate";

/**
 * The SDK against the real product in embedded mode (one process; usage is
 * counted before ingest answers, so a flushed report is visible at once).
 * Each test speaks for a fresh user of one org (budgets: see test-tollgate.ts).
 */
describe("@tollgate/sdk against embedded Tollgate", () => {
  let tg: Awaited<ReturnType<typeof startTestTollgate>>;
  beforeAll(async () => {
    tg = await startTestTollgate();
  });
  afterAll(() => tg?.stop());
  const client = (options: Partial<TollgateOptions> = {}) => tg.client(options);
  const userLine = (userId: string) => tg.userStanding(userId);

  it("maps check and reserve decisions: allow, deny with the deciding budget, throttle with retryAfterS, degrade", async () => {
    const { tollgate, userId } = client();
    const allowed = await tollgate.check({ model: "gpt-4o", inputTokens: 100, maxOutputTokens: 50 });
    expect(allowed).toMatchObject({ decision: "allow", model: "gpt-4o", maxOutputTokens: 50 });
    expect(allowed.reservationId).toBeUndefined();
    expect(allowed.failedOpen).toBeUndefined();

    const held = await tollgate.reserve({ model: "gpt-4o", inputTokens: 100, maxOutputTokens: 50 });
    expect(held.reservationId).toEqual(expect.any(String));
    expect((await userLine(userId)).line).toMatchObject({ member: userId, used: 0, reserved: 150 });
    expect(await tollgate.release(held.reservationId as string)).toBe(true);
    expect(await tollgate.release(held.reservationId as string)).toBe(false);
    expect((await userLine(userId)).line?.reserved).toBe(0);

    const denied = await tollgate.reserve({ model: "gpt-4o", inputTokens: 20_000 });
    expect(denied.decision).toBe("deny");
    expect(denied.reservationId).toBeUndefined();
    expect(denied.decidingBudget).toMatchObject({ id: `${tg.org}-user`, scope: { type: "user", id: "*" } });
    expect(denied.reason).toContain(`${tg.org}-user`);

    const throttled = await tollgate.check({ agentId: "throttled", model: "gpt-4o", inputTokens: 500 });
    expect(throttled).toMatchObject({ decision: "throttle", decidingBudget: { id: `${tg.org}-throttle` } });
    expect(throttled.retryAfterS).toBeGreaterThan(0);

    const degraded = await tollgate.check({
      agentId: "cheap",
      model: "gpt-4o",
      inputTokens: 400,
      maxOutputTokens: 600,
    });
    expect(degraded).toMatchObject({ decision: "degrade", model: "gpt-4o-mini", maxOutputTokens: 256 });
    expect(degraded.decidingBudget?.id).toBe(`${tg.org}-cheap`);
  });

  it("guard: reserves, runs the call once, and counts its usage exactly once, settling the hold", async () => {
    const { tollgate, userId } = client();
    let calls = 0;
    const result = await tollgate.guard({ model: "gpt-4o", inputTokens: 200, maxOutputTokens: 100 }, async (ctx) => {
      calls++;
      expect(ctx).toMatchObject({ model: "gpt-4o", maxOutputTokens: 100 });
      expect(ctx.decision.reservationId).toEqual(expect.any(String));
      return { text: "hi", usage: { inputTokens: 120, outputTokens: 30 } };
    });
    expect(result.text).toBe("hi");
    expect(calls).toBe(1);
    await tollgate.shutdown();
    const { line, totals } = await userLine(userId);
    expect(totals).toMatchObject({ tokens: 150, inputTokens: 120, outputTokens: 30, requests: 1 });
    expect(line).toMatchObject({ used: 150, reserved: 0 });
  });

  it("guard on a denied or throttled budget never calls the function and throws BudgetExceededError", async () => {
    const { tollgate, userId } = client();
    let calls = 0;
    const fn = async () => {
      calls++;
      return { usage: { inputTokens: 1, outputTokens: 1 } };
    };
    const denied = await tollgate.guard({ model: "gpt-4o", inputTokens: 50_000 }, fn).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(BudgetExceededError);
    expect((denied as BudgetExceededError).decision.decision).toBe("deny");
    expect((denied as BudgetExceededError).budget?.id).toBe(`${tg.org}-user`);
    const throttled = await tollgate
      .guard({ agentId: "throttled", model: "gpt-4o", inputTokens: 500 }, fn)
      .catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(BudgetExceededError);
    expect((throttled as BudgetExceededError).retryAfterS).toBeGreaterThan(0);
    expect(calls).toBe(0);
    expect((await userLine(userId)).line).toMatchObject({ used: 0, reserved: 0 });
  });

  it("guard passes the degraded model and output cap to the call, and reports under that model", async () => {
    const { tollgate } = client();
    const seen: Array<{ model: string; maxOutputTokens: number | undefined }> = [];
    await tollgate.guard(
      { agentId: "cheap", model: "gpt-4o", inputTokens: 400, maxOutputTokens: 600 },
      ({ model, maxOutputTokens }) => {
        seen.push({ model, maxOutputTokens });
        return { usage: { input_tokens: 400, output_tokens: 200 } };
      },
    );
    await tollgate.shutdown();
    expect(seen).toEqual([{ model: "gpt-4o-mini", maxOutputTokens: 256 }]);
    const usage = await client().tollgate.usage({ agentId: "cheap", model: "gpt-4o-mini" });
    expect(usage.totals.model?.day.requests).toBeGreaterThanOrEqual(1);
  });

  it("settles a stream cancelled halfway with its partial usage, and one that breaks without usage by releasing", async () => {
    const { tollgate, userId } = client();
    const stream = await tollgate.guard(
      { model: "gpt-4o", inputTokens: 100, maxOutputTokens: 500 },
      async function* (ctx) {
        for (let i = 1; i <= 10; i++) {
          ctx.setUsage({ inputTokens: 100, outputTokens: i * 10 });
          yield `token ${i}`;
        }
      },
    );
    expect((await userLine(userId)).line?.reserved).toBe(600); // held while the stream is open
    let read = 0;
    for await (const _chunk of stream) if (++read === 3) break; // return(): the consumer stops
    await tollgate.flush();
    expect(await userLine(userId)).toMatchObject({ line: { used: 130, reserved: 0 }, totals: { tokens: 130 } });

    // A stream that throws before any usage is known: released, nothing counted.
    const broken = await tollgate.guard(
      { model: "gpt-4o", inputTokens: 100, maxOutputTokens: 500 },
      async function* () {
        yield "a";
        throw new Error("provider hung up");
      },
    );
    const chunks: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of broken) chunks.push(chunk);
      })(),
    ).rejects.toThrow("provider hung up");
    expect(chunks).toEqual(["a"]);
    // An aborted call (the caller's signal) with no usage known: released too.
    const abort = new AbortController();
    let started: () => void = () => undefined;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const aborted = tollgate.guard(
      { model: "gpt-4o", inputTokens: 100, maxOutputTokens: 500, signal: abort.signal },
      (ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
          started();
        }),
    );
    await running;
    // Held while the call runs (the broken stream's hold may still be on its way out).
    expect((await userLine(userId)).line?.reserved).toBeGreaterThanOrEqual(600);
    abort.abort(new Error("user went away"));
    await expect(aborted).rejects.toThrow("user went away");
    // Aborted before Tollgate answered: the call never runs.
    const early = new AbortController();
    early.abort(new Error("gone already"));
    let ran = 0;
    await expect(
      tollgate.guard({ model: "gpt-4o", inputTokens: 100, signal: early.signal }, () => ++ran),
    ).rejects.toThrow("gone already");
    expect(ran).toBe(0);
    await tollgate.shutdown();
    await eventually(async () => {
      const { line } = await userLine(userId);
      return line?.reserved === 0 ? line : undefined;
    }, "the releases");
    expect((await userLine(userId)).line).toMatchObject({ used: 130, reserved: 0 });
  });

  it("batches reports, sends them on shutdown, and counts a batch resent after a lost answer once", async () => {
    const posts: number[] = [];
    let loseNextAnswer = true;
    // The real fetch; only the answer to the first batch is lost on its way back, as on a dropped connection.
    const counting: typeof fetch = async (input, init) => {
      const reply = await fetch(input, init);
      if (String(input).endsWith("/v1/events")) {
        posts.push(JSON.parse(String(init?.body)).events.length);
        if (loseNextAnswer) {
          loseNextAnswer = false;
          throw new TypeError("fetch failed (answer lost)");
        }
      }
      return reply;
    };
    const warnings: string[] = [];
    const logger: Logger = { warn: (m) => warnings.push(m), info: () => undefined };
    const { tollgate, userId } = client({ fetch: counting, batchSize: 10, flushIntervalMs: 60_000, logger });
    for (let i = 0; i < 5; i++) tollgate.report({ model: "gpt-4o", inputTokens: 10, outputTokens: 5 });
    await new Promise((r) => setTimeout(r, 200));
    expect(posts).toEqual([]); // waiting for its batch to fill (or the interval, or shutdown)
    for (let i = 0; i < 20; i++) tollgate.report({ model: "gpt-4o", inputTokens: 10, outputTokens: 5 });
    await tollgate.shutdown();
    // 10 (answer lost) → 10 again, 10, 5: each batch at most 10, the lost one resent with the same event ids.
    expect(posts).toEqual([10, 10, 10, 5]);
    expect(warnings).toHaveLength(1);
    expect((await userLine(userId)).totals).toMatchObject({ tokens: 25 * 15, requests: 25 });
  });

  it("fails open within the timeout when Tollgate is down, logging once per outage, not per call", async () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const logger: Logger = { warn: (m) => warnings.push(m), info: (m) => infos.push(m) };
    const closedPort = await freePort(); // nothing listens there
    const down = createTollgate({
      checkUrl: `http://127.0.0.1:${closedPort}`,
      ingestUrl: `http://127.0.0.1:${closedPort}`,
      apiKey: tg.agentKey,
      subject: { userId: "u", projectId: "p", agentId: "a" },
      timeoutMs: 300,
      logger,
    });
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => down.check({ model: "gpt-4o" })));
    expect(answers.every((a) => a.decision === "allow" && a.failedOpen === true)).toBe(true);
    expect((await down.usage()).failedOpen).toBe(true);
    let ran = 0;
    const guarded = await down.guard({ model: "gpt-4o" }, () => ++ran);
    expect([guarded, ran]).toEqual([1, 1]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(warnings).toHaveLength(1);

    // A server that accepts and never answers: the timeout decides.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const stalled = createTollgate({
      checkUrl: silentUrl,
      ingestUrl: silentUrl,
      apiKey: tg.agentKey,
      timeoutMs: 300,
      logger,
    });
    const t0 = Date.now();
    expect((await stalled.check({ model: "gpt-4o", userId: "u" })).failedOpen).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_000);
    for (const s of sockets) s.destroy();
    silent.close();

    // Through a proxy that can be cut: the flag resets when Tollgate answers again.
    warnings.length = 0;
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: tg.ports.enforcement });
    const { tollgate } = client({ checkUrl: `http://127.0.0.1:${proxy.port}`, timeoutMs: 500, logger });
    expect((await tollgate.check({ model: "gpt-4o" })).failedOpen).toBeUndefined();
    await proxy.cut();
    for (let i = 0; i < 10; i++) expect((await tollgate.check({ model: "gpt-4o" })).failedOpen).toBe(true);
    expect(warnings).toHaveLength(1);
    await proxy.restore();
    expect((await tollgate.check({ model: "gpt-4o" })).failedOpen).toBeUndefined();
    expect(infos).toEqual(["Tollgate answers again"]);
    await proxy.cut();
    expect((await tollgate.check({ model: "gpt-4o" })).failedOpen).toBe(true);
    expect(warnings).toHaveLength(2);
    await proxy.close();

    // Shutdown keeps its deadline with Tollgate gone, and says what it could not send.
    down.report({ model: "gpt-4o", inputTokens: 1, outputTokens: 1 });
    const stopping = Date.now();
    await down.shutdown({ timeoutMs: 300 });
    expect(Date.now() - stopping).toBeLessThan(1_500);
    expect(warnings.at(-1)).toBe("Tollgate client shut down with 1 usage report(s) unsent");
  });

  it("fails closed with TollgateUnavailableError, and guard then never runs the call", async () => {
    const closedPort = await freePort();
    const closed = createTollgate({
      checkUrl: `http://127.0.0.1:${closedPort}`,
      ingestUrl: `http://127.0.0.1:${closedPort}`,
      apiKey: tg.agentKey,
      timeoutMs: 300,
      failMode: "closed",
      logger: { warn: () => undefined },
    });
    await expect(closed.check({ model: "gpt-4o", userId: "u" })).rejects.toBeInstanceOf(TollgateUnavailableError);
    await expect(closed.usage({ userId: "u" })).rejects.toBeInstanceOf(TollgateUnavailableError);
    let ran = 0;
    await expect(closed.guard({ model: "gpt-4o", userId: "u" }, () => ++ran)).rejects.toBeInstanceOf(
      TollgateUnavailableError,
    );
    expect(ran).toBe(0);
  });
});
