import { functionCallingTestCases } from "gpt-tokenizer/fixtures/functionCallingTestCases";
import cl100k from "gpt-tokenizer/model/gpt-4-turbo";
import o200k from "gpt-tokenizer/model/gpt-4o";
import { describe, expect, it } from "vitest";
import { CHECK_BODY_LIMIT_BYTES } from "./check-route";
import { countInputTokens, encodingOf } from "./estimate";

// OpenAI cookbook, "How to count tokens with tiktoken", section 6: these six
// messages are 129 prompt tokens for gpt-3.5-turbo and gpt-4 and 124 for
// gpt-4o / gpt-4o-mini, as counted by the OpenAI API (the notebook prints both).
const cookbook = [
  {
    role: "system",
    content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
  },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  { role: "system", name: "example_assistant", content: "Things working well together will increase revenue." },
  {
    role: "system",
    name: "example_user",
    content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  {
    role: "system",
    name: "example_assistant",
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: "user",
    content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

describe("counting input tokens", () => {
  it("matches the OpenAI API's counts of the cookbook example, template overhead included", async () => {
    for (const model of ["gpt-4o", "gpt-4o-mini", "gpt-4o-2024-08-06"]) {
      expect(await countInputTokens({ model, messages: cookbook })).toEqual({
        input_tokens: 124,
        input_tokens_estimated: false,
      });
    }
    for (const model of ["gpt-4", "gpt-4-0613", "gpt-3.5-turbo"]) {
      expect((await countInputTokens({ model, messages: cookbook })).input_tokens).toBe(129);
    }
  });

  it("equals the tokenizer library's own chat count for the same messages", async () => {
    // gpt-tokenizer's countChatCompletionTokens implements the same rule; its
    // fixtures carry counts it checks against (single messages, so each
    // includes the 3 priming tokens). Only plain-text cases: no functions.
    const plain = functionCallingTestCases.filter(
      (c) =>
        !c.functions &&
        !c.function_call &&
        c.messages.every((m) => typeof m.content === "string" && !m.function_call && m.role !== "function"),
    );
    expect(plain.length).toBeGreaterThan(5);
    for (const c of plain) {
      const messages = c.messages.map((m) => ({
        role: m.role ?? "user",
        content: m.content ?? "",
        ...(m.name ? { name: m.name } : {}),
      }));
      const counted = await countInputTokens({ model: "gpt-4o", messages });
      expect(counted.input_tokens).toBe(c.tokens);
      expect(counted.input_tokens).toBe(o200k.countChatCompletionTokens?.({ messages }));
    }
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Zähle die Tokens: 東京 🙂 naïve café" },
    ];
    // cl100k_base (gpt-4-turbo: the library offers the chat count for models with function calling).
    const library = cl100k.countChatCompletionTokens?.({ messages });
    expect(library).toBeGreaterThan(0);
    expect((await countInputTokens({ model: "gpt-4-turbo", messages })).input_tokens).toBe(library);
  });

  it("counts a bare prompt as its text's tokens, with no chat template", async () => {
    const prompt = "Write a haiku about budgets.";
    expect(await countInputTokens({ model: "gpt-4.1", prompt })).toEqual({
      input_tokens: o200k.countTokens(prompt),
      input_tokens_estimated: false,
    });
  });

  it("flags what it cannot count exactly: other models, Anthropic's system, content parts", async () => {
    const messages = [{ role: "user", content: "hello" }];
    const exact = await countInputTokens({ model: "gpt-4o", messages });
    expect(exact).toEqual({ input_tokens: 8, input_tokens_estimated: false });
    // Claude: the same o200k_base count, flagged.
    expect(await countInputTokens({ model: "claude-sonnet-4-5", messages })).toEqual({
      input_tokens: 8,
      input_tokens_estimated: true,
    });
    expect((await countInputTokens({ model: null, messages })).input_tokens_estimated).toBe(true);
    const anthropic = await countInputTokens({
      model: "claude-sonnet-4-5",
      system: [{ type: "text", text: "Be brief." }],
      messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
    });
    // system as a message (3 + "system" + text) and the user message: both counted.
    expect(anthropic.input_tokens).toBe(8 + 3 + 1 + o200k.countTokens("Be brief."));
    expect(anthropic.input_tokens_estimated).toBe(true);
    const parts = await countInputTokens({
      model: "gpt-4o",
      messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
    });
    expect(parts).toEqual({ input_tokens: 8, input_tokens_estimated: true });
  });

  it("maps OpenAI models to their encodings, and nothing else", () => {
    for (const m of ["gpt-4o", "openai/gpt-4o-mini", "gpt-4.1-nano", "o1", "o3-mini", "o4-mini", "gpt-5"]) {
      expect(encodingOf(m)).toBe("o200k_base");
    }
    for (const m of ["gpt-4", "gpt-4-turbo", "gpt-4-0613", "gpt-3.5-turbo"]) expect(encodingOf(m)).toBe("cl100k_base");
    for (const m of ["claude-sonnet-4-5", "gemini-2.5-pro", "o", "gpt-40", "llama-3"]) expect(encodingOf(m)).toBeNull();
  });

  it("counts a body at the check's size limit quickly enough to share the event loop", async () => {
    // Random words defeat the merge cache: the slowest text of this size.
    let seed = 7;
    const words: string[] = [];
    for (let i = 0; i < 60_000; i++) {
      seed = (seed * 48271) % 2147483647;
      words.push(seed.toString(36).slice(0, (i % 9) + 1));
    }
    const content = words.join(" ").slice(0, CHECK_BODY_LIMIT_BYTES - 1024);
    await countInputTokens({ model: "gpt-4o", prompt: "warm" });
    const started = performance.now();
    const counted = await countInputTokens({ model: "gpt-4o", messages: [{ role: "user", content }] });
    expect(counted.input_tokens).toBeGreaterThan(50_000);
    // 150–250 ms on this machine; the bound is loose for slow CI runners.
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});
