import { createServer, type Server, type Socket } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/processes";
import type { Mode } from "../../../test/support/stack";
import { BudgetExceededError, createTollgate, TollgateUnavailableError } from ".";
import { withTollgate } from "./openai";
import { type FakeProvider, startFakeOpenAI, WORDS } from "./test-fake-providers";
import { startTestTollgate } from "./test-tollgate";

/**
 * The OpenAI adapter on the real `openai` package against Tollgate in
 * both modes, with a local OpenAI-compatible server standing in for OpenAI
 * (the only thing not real). It answers 12 input + 8 output tokens.
 */
describe.each<Mode>(["embedded", "distributed"])("withTollgate(openai) (%s)", (mode) => {
  let tg: Awaited<ReturnType<typeof startTestTollgate>>;
  let fake: FakeProvider;
  beforeAll(async () => {
    [tg, fake] = await Promise.all([startTestTollgate(mode), startFakeOpenAI()]);
  });
  afterAll(async () => {
    await fake?.close();
    await tg?.stop();
  });

  const openai = () => new OpenAI({ apiKey: "sk-test", baseURL: `${fake.url}/v1`, maxRetries: 0 });
  const ask = [{ role: "user" as const, content: "Say hi" }];

  it("counts a chat completion and a response exactly once, and leaves no hold", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(openai(), { tollgate });
    const chat = await client.chat.completions.create({ model: "gpt-4o", messages: ask, max_completion_tokens: 100 });
    expect(chat.choices[0]?.message.content).toBe("hi");
    const response = await client.responses.create({ model: "gpt-4o", input: "Say hi", max_output_tokens: 100 });
    expect(response.output_text).toBe(WORDS.join(""));
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 40, reserved: 0 },
      totals: { tokens: 40, inputTokens: 24, outputTokens: 16, requests: 2 },
    });
  });

  it("forces include_usage on a chat stream and counts it once from the last chunk", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(openai(), { tollgate });
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages: ask, stream: true });
    expect(fake.requests.at(-1)?.stream_options).toEqual({ include_usage: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe(WORDS.join(""));
    const events = await client.responses.create({ model: "gpt-4o", input: "Say hi", stream: true });
    for await (const _ of events) {
      // read to the end
    }
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 40, reserved: 0 },
      totals: { tokens: 40, requests: 2 },
    });
  });

  it("never reaches OpenAI when a budget denies", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(openai(), { tollgate });
    const before = fake.requests.length;
    const failed = await client.chat.completions
      .create({ model: "gpt-4o", messages: ask, max_completion_tokens: 50_000 })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BudgetExceededError);
    expect((failed as BudgetExceededError).budget?.id).toBe(`${tg.org}-user`);
    const throttled = withTollgate(openai(), { tollgate, subject: { agentId: "throttled" } });
    await expect(
      throttled.responses.create({ model: "gpt-4o", input: "x".repeat(1_000), max_output_tokens: 10 }),
    ).rejects.toBeInstanceOf(BudgetExceededError);
    expect(fake.requests.length).toBe(before);
    expect((await tg.userStanding(userId)).line).toMatchObject({ used: 0, reserved: 0 });
  });

  it("sends a degraded call with the mapped model and the capped output, reported under that model", async () => {
    const { tollgate } = tg.client();
    const client = withTollgate(openai(), { tollgate, subject: { agentId: "cheap" } });
    // 1,600 characters ≈ 400 input tokens + 600 output on gpt-4o: past the agent's 0.005 USD.
    const messages = [{ role: "user" as const, content: "x".repeat(1_600) }];
    await client.chat.completions.create({ model: "gpt-4o", messages, max_completion_tokens: 600 });
    expect(fake.requests.at(-1)).toMatchObject({ model: "gpt-4o-mini", max_completion_tokens: 256 });
    await client.responses.create({ model: "gpt-4o", input: "x".repeat(1_600), max_output_tokens: 600 });
    expect(fake.requests.at(-1)).toMatchObject({ model: "gpt-4o-mini", max_output_tokens: 256 });
    await tollgate.shutdown();
    expect((await tg.cheapModelDay("gpt-4o-mini", 2)).requests).toBeGreaterThanOrEqual(2);
  });

  it("settles a stream the reader leaves halfway: charged what it delivered, no hold left", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(openai(), { tollgate });
    const messages = [{ role: "user" as const, content: "x".repeat(80) }];
    const stream = await client.chat.completions.create({
      model: "gpt-4o",
      messages,
      max_completion_tokens: 100,
      stream: true,
    });
    expect((await tg.userStanding(userId)).line?.reserved).toBe(120); // 80 / 4 in + 100 out, held
    const cutBefore = fake.cutStreams;
    let chunks = 0;
    for await (const _ of stream) if (++chunks === 3) break; // "Hello", ", ", "world"
    await eventually(async () => (fake.cutStreams > cutBefore ? true : undefined), "OpenAI to see the stream closed");
    await tollgate.shutdown();
    // No usage chunk came: the estimate of the prompt (20) and of the 12 characters delivered (3).
    expect(await tg.settledStanding(userId)).toMatchObject({ line: { used: 23, reserved: 0 }, totals: { tokens: 23 } });
  });

  it("settles a Responses stream aborted by the caller's signal", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(openai(), { tollgate });
    const abort = new AbortController();
    const stream = await client.responses.create(
      { model: "gpt-4o", input: "x".repeat(80), max_output_tokens: 100, stream: true },
      { signal: abort.signal },
    );
    const read = (async () => {
      let events = 0;
      for await (const _ of stream) if (++events === 4) abort.abort(); // created, "Hello", ", ", "world"
    })();
    await read.catch(() => undefined); // the SDK ends an aborted stream quietly (this version) or throws
    await tollgate.shutdown();
    // No response.completed came: the estimate of the input (20) and of the 12 characters delivered (3).
    expect(await tg.settledStanding(userId)).toMatchObject({ line: { used: 23, reserved: 0 }, totals: { tokens: 23 } });
  });

  it("fails open within the timeout when Tollgate does not answer, or throws TollgateUnavailableError fail-closed", async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const down = (failMode: "open" | "closed") =>
      createTollgate({ checkUrl: url, ingestUrl: url, apiKey: "k", timeoutMs: 300, failMode, logger: { warn() {} } });
    try {
      const before = fake.requests.length;
      const started = Date.now();
      const openTollgate = down("open");
      const open = withTollgate(openai(), { tollgate: openTollgate, subject: { userId: "u" } });
      const chat = await open.chat.completions.create({ model: "gpt-4o", messages: ask });
      expect(chat.choices[0]?.message.content).toBe("hi");
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(fake.requests.length).toBe(before + 1);
      await openTollgate.shutdown({ timeoutMs: 100 }); // its report cannot be sent: dropped with a warning

      const closed = withTollgate(openai(), { tollgate: down("closed"), subject: { userId: "u" } });
      await expect(closed.chat.completions.create({ model: "gpt-4o", messages: ask })).rejects.toBeInstanceOf(
        TollgateUnavailableError,
      );
      expect(fake.requests.length).toBe(before + 1);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
