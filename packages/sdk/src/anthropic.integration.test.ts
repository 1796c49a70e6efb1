import { createServer, type Server, type Socket } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/processes";
import type { Mode } from "../../../test/support/stack";
import { BudgetExceededError, createTollgate, TollgateUnavailableError } from ".";
import { withTollgate } from "./anthropic";
import { type FakeProvider, startFakeAnthropic, WORDS } from "./test-fake-providers";
import { startTestTollgate } from "./test-tollgate";

/**
 * The Anthropic adapter on the real `@anthropic-ai/sdk` against Tollgate in
 * both modes, with a local Anthropic-compatible server standing in for
 * Anthropic (the only thing not real). It answers 30 input + 10 output
 * tokens; its streams say the output count twice (5, then 10: cumulative).
 */
describe.each<Mode>(["embedded", "distributed"])("withTollgate(anthropic) (%s)", (mode) => {
  let tg: Awaited<ReturnType<typeof startTestTollgate>>;
  let fake: FakeProvider;
  beforeAll(async () => {
    [tg, fake] = await Promise.all([startTestTollgate(mode), startFakeAnthropic()]);
  });
  afterAll(async () => {
    await fake?.close();
    await tg?.stop();
  });

  const anthropic = () => new Anthropic({ apiKey: "sk-ant-test", baseURL: fake.url, maxRetries: 0 });
  const model = "claude-sonnet-4-6";
  const ask = [{ role: "user" as const, content: "Say hi" }];

  it("counts a message exactly once, and leaves no hold", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(anthropic(), { tollgate });
    const message = await client.messages.create({ model, messages: ask, max_tokens: 100 });
    expect(message.content[0]).toMatchObject({ type: "text", text: "hi" });
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 40, reserved: 0 },
      totals: { tokens: 40, inputTokens: 30, outputTokens: 10, requests: 1 },
    });
  });

  it("counts a stream once: input from message_start, output from the last message_delta (not their sum)", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(anthropic(), { tollgate });
    const stream = await client.messages.create({ model, messages: ask, max_tokens: 100, stream: true });
    let text = "";
    for await (const event of stream) {
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    expect(text).toBe(WORDS.join(""));
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 40, reserved: 0 },
      totals: { tokens: 40, inputTokens: 30, outputTokens: 10, requests: 1 },
    });
  });

  it("never reaches Anthropic when a budget denies", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(anthropic(), { tollgate });
    const before = fake.requests.length;
    const failed = await client.messages
      .create({ model, messages: ask, max_tokens: 50_000, stream: true })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BudgetExceededError);
    expect((failed as BudgetExceededError).budget?.id).toBe(`${tg.org}-user`);
    expect(fake.requests.length).toBe(before);
    expect((await tg.userStanding(userId)).line).toMatchObject({ used: 0, reserved: 0 });
  });

  it("sends a degraded call with the mapped model and max_tokens capped, reported under that model", async () => {
    const { tollgate } = tg.client();
    const client = withTollgate(anthropic(), { tollgate, subject: { agentId: "cheap" } });
    // 1,600 characters ≈ 400 input tokens + 600 output on claude-sonnet-4-6: past the agent's 0.005 USD.
    await client.messages.create({ model, messages: [{ role: "user", content: "x".repeat(1_600) }], max_tokens: 600 });
    expect(fake.requests.at(-1)).toMatchObject({ model: "claude-haiku-4-5", max_tokens: 256 });
    await tollgate.shutdown();
    expect(await tg.cheapModelDay("claude-haiku-4-5")).toMatchObject({ requests: 1, tokens: 40 });
  });

  it("settles a stream the reader leaves halfway: the input Anthropic counted plus the text delivered, no hold", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(anthropic(), { tollgate });
    const stream = await client.messages.create({ model, messages: ask, max_tokens: 100, stream: true });
    expect((await tg.userStanding(userId)).line?.reserved).toBe(102); // "Say hi" ≈ 2 in + 100 out, held
    const cutBefore = fake.cutStreams;
    let events = 0;
    for await (const _ of stream) if (++events === 4) break; // message_start, content_block_start, "Hello", ", "
    await eventually(
      async () => (fake.cutStreams > cutBefore ? true : undefined),
      "Anthropic to see the stream closed",
    );
    await tollgate.shutdown();
    // No message_delta came: message_start's 30 input tokens and "Hello, " (7 characters ≈ 2 tokens).
    expect(await tg.settledStanding(userId)).toMatchObject({ line: { used: 32, reserved: 0 }, totals: { tokens: 32 } });
  });

  it("settles a stream aborted by the caller's signal, with the output Anthropic had counted so far", async () => {
    const { tollgate, userId } = tg.client();
    const client = withTollgate(anthropic(), { tollgate });
    const abort = new AbortController();
    const stream = await client.messages.create(
      { model, messages: ask, max_tokens: 100, stream: true },
      { signal: abort.signal },
    );
    const read = (async () => {
      let events = 0;
      // message_start, content_block_start, 4 deltas, the first message_delta (output 5), 1 more delta
      for await (const _ of stream) if (++events === 8) abort.abort();
    })();
    await read.catch(() => undefined); // the SDK ends an aborted stream quietly (this version) or throws
    await tollgate.shutdown();
    // message_start's 30 input tokens and the last message_delta's 5 output tokens: charged, not held.
    expect(await tg.settledStanding(userId)).toMatchObject({ line: { used: 35, reserved: 0 }, totals: { tokens: 35 } });
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
      const open = withTollgate(anthropic(), { tollgate: openTollgate, subject: { userId: "u" } });
      const message = await open.messages.create({ model, messages: ask, max_tokens: 100 });
      expect(message.content[0]).toMatchObject({ text: "hi" });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(fake.requests.length).toBe(before + 1);
      await openTollgate.shutdown({ timeoutMs: 100 }); // its report cannot be sent: dropped with a warning

      const closed = withTollgate(anthropic(), { tollgate: down("closed"), subject: { userId: "u" } });
      await expect(closed.messages.create({ model, messages: ask, max_tokens: 100 })).rejects.toBeInstanceOf(
        TollgateUnavailableError,
      );
      expect(fake.requests.length).toBe(before + 1);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
