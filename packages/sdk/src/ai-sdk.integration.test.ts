import type { LanguageModelMiddleware as Middleware6 } from "ai";
import {
  generateText as generateText6,
  simulateReadableStream as stream6,
  streamText as streamText6,
  wrapLanguageModel as wrap6,
} from "ai";
import { MockLanguageModelV3 } from "ai/test";
import type { LanguageModelMiddleware as Middleware5 } from "ai5";
import {
  generateText as generateText5,
  simulateReadableStream as stream5,
  streamText as streamText5,
  wrapLanguageModel as wrap5,
} from "ai5";
import { MockLanguageModelV2 } from "ai5/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Mode } from "../../../test/support/stack";
import { BudgetExceededError } from ".";
import { tollgateMiddleware } from "./ai-sdk";
import { startTestTollgate } from "./test-tollgate";

/**
 * The Vercel AI SDK middleware on the framework's real packages, ai 5
 * (LanguageModelV2) and ai 6 (V3), with the framework's own mock models
 * standing in for the provider (the only thing not real), against Tollgate:
 * both versions on embedded mode, ai 6 on distributed mode too.
 */

// The two versions differ in their usage and finish-reason shapes; everything else is shared.
// biome-ignore lint/suspicious/noExplicitAny: the two frameworks' types differ; each mock is typed by its own package
type Any = any;
const versions = [
  {
    name: "ai 5",
    usage: (i: number, o: number) => ({ inputTokens: i, outputTokens: o, totalTokens: i + o }),
    finishReason: "stop" as Any,
    mock: (init: Any) => new MockLanguageModelV2(init),
    wrap: (model: Any, middleware: Any) => wrap5({ model, middleware }),
    generateText: (options: Any) => generateText5(options),
    streamText: (options: Any) => streamText5(options),
    stream: stream5,
  },
  {
    name: "ai 6",
    usage: (i: number, o: number) => ({
      inputTokens: { total: i, noCache: i, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: o, text: o, reasoning: 0 },
    }),
    finishReason: { unified: "stop", raw: "stop" } as Any,
    mock: (init: Any) => new MockLanguageModelV3(init),
    wrap: (model: Any, middleware: Any) => wrap6({ model, middleware }),
    generateText: (options: Any) => generateText6(options),
    streamText: (options: Any) => streamText6(options),
    stream: stream6,
  },
];

// The middleware's own type fits both frameworks' (checked by the typecheck, not at run time).
export const fitsBoth = (m: ReturnType<typeof tollgateMiddleware>): [Middleware5, Middleware6] => [m, m];

const runs: Array<{ v: (typeof versions)[number]; mode: Mode }> = [
  { v: versions[0] as (typeof versions)[number], mode: "embedded" },
  { v: versions[1] as (typeof versions)[number], mode: "embedded" },
  { v: versions[1] as (typeof versions)[number], mode: "distributed" },
];

describe.each(runs)("tollgateMiddleware with $v.name ($mode)", ({ v, mode }) => {
  let tg: Awaited<ReturnType<typeof startTestTollgate>>;
  beforeAll(async () => {
    tg = await startTestTollgate(mode);
  });
  afterAll(() => tg?.stop());

  const words = ["Hello", ", ", "world", "!", " More", " text", " here", "."];
  const model = (modelId: string, input = 12, output = 8) =>
    v.mock({
      modelId,
      doGenerate: async () => ({
        content: [{ type: "text", text: "hi" }],
        finishReason: v.finishReason,
        usage: v.usage(input, output),
        warnings: [],
      }),
      doStream: async () => ({
        stream: v.stream({
          chunks: [
            { type: "stream-start", warnings: [] },
            { type: "text-start", id: "t" },
            ...words.map((delta) => ({ type: "text-delta", id: "t", delta })),
            { type: "text-end", id: "t" },
            { type: "finish", finishReason: v.finishReason, usage: v.usage(input, output) },
          ],
        }),
      }),
    });

  it("counts a generateText call's usage exactly once and leaves no hold", async () => {
    const { tollgate, userId } = tg.client();
    const base = model("gpt-4o");
    const wrapped = v.wrap(base, tollgateMiddleware({ client: tollgate }));
    const result = await v.generateText({ model: wrapped, prompt: "Say hi", maxOutputTokens: 100 });
    expect(result.text).toBe("hi");
    expect(base.doGenerateCalls).toHaveLength(1);
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 20, reserved: 0 },
      totals: { tokens: 20, inputTokens: 12, outputTokens: 8, requests: 1 },
    });
  });

  it("never reaches the model when a budget denies", async () => {
    const { tollgate, userId } = tg.client();
    const base = model("gpt-4o");
    const wrapped = v.wrap(base, tollgateMiddleware({ client: tollgate }));
    const failed = await v
      .generateText({ model: wrapped, prompt: "Write a novel", maxOutputTokens: 50_000, maxRetries: 0 })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(BudgetExceededError);
    expect((failed as BudgetExceededError).budget?.id).toBe(`${tg.org}-user`);
    expect(base.doGenerateCalls).toHaveLength(0);
    expect((await tg.userStanding(userId)).line).toMatchObject({ used: 0, reserved: 0 });
  });

  it("sends a degraded call to the cheaper model through resolveModel, capped, and reports it under that model", async () => {
    const { tollgate } = tg.client();
    const base = model("gpt-4o");
    const mini = model("gpt-4o-mini");
    const wrapped = v.wrap(
      base,
      tollgateMiddleware({ client: tollgate, subject: { agentId: "cheap" }, resolveModel: () => mini }),
    );
    // 1,600 characters ≈ 400 input tokens + 600 output on gpt-4o: past the agent's 0.005 USD.
    await v.generateText({ model: wrapped, prompt: "x".repeat(1_600), maxOutputTokens: 600 });
    expect(base.doGenerateCalls).toHaveLength(0);
    expect(mini.doGenerateCalls).toHaveLength(1);
    expect(mini.doGenerateCalls[0]?.maxOutputTokens).toBe(256);
    await tollgate.shutdown();
    expect((await tg.cheapModelDay("gpt-4o-mini")).requests).toBeGreaterThanOrEqual(1);
  });

  it("counts a streamed call from its finish part once the stream is read", async () => {
    const { tollgate, userId } = tg.client();
    const wrapped = v.wrap(model("gpt-4o", 30, 10), tollgateMiddleware({ client: tollgate }));
    const result = v.streamText({ model: wrapped, prompt: "Say hello", maxOutputTokens: 100 });
    let text = "";
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe(words.join(""));
    await tollgate.shutdown();
    expect(await tg.settledStanding(userId)).toMatchObject({
      line: { used: 40, reserved: 0 },
      totals: { requests: 1 },
    });
  });

  it("settles a stream cancelled halfway: charged what it delivered, no hold left", async () => {
    const { tollgate, userId } = tg.client();
    const wrapped = v.wrap(model("gpt-4o", 30, 10), tollgateMiddleware({ client: tollgate }));
    const { stream } = await wrapped.doStream({
      prompt: [{ role: "user", content: [{ type: "text", text: "x".repeat(80) }] }],
      maxOutputTokens: 100,
    });
    expect((await tg.userStanding(userId)).line?.reserved).toBe(120); // 80 / 4 in + 100 out, held
    const reader = stream.getReader();
    for (let i = 0; i < 5; i++) await reader.read(); // stream-start, text-start, "Hello", ", ", "world"
    await reader.cancel("user went away");
    await tollgate.shutdown();
    // No finish part came: the estimate of the prompt (20) and of the 12 characters delivered (3).
    expect(await tg.settledStanding(userId)).toMatchObject({ line: { used: 23, reserved: 0 }, totals: { tokens: 23 } });
  });
});
