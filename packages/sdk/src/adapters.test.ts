import { describe, expect, it } from "vitest";
import { estimateTokens, overrideMethods, settledStream } from "./adapter-kit";
import { anthropicUsage } from "./anthropic";
import { openaiUsage } from "./openai";

describe("provider usage", () => {
  it("reads chat completions' and the Responses API's usage, details included", () => {
    expect(
      openaiUsage({
        prompt_tokens: 100,
        completion_tokens: 40,
        prompt_tokens_details: { cached_tokens: 60 },
        completion_tokens_details: { reasoning_tokens: 10 },
      }),
    ).toEqual({ inputTokens: 100, outputTokens: 40, cachedTokens: 60, reasoningTokens: 10 });
    expect(openaiUsage({ input_tokens: 5, output_tokens: 7, input_tokens_details: { cached_tokens: 0 } })).toEqual({
      inputTokens: 5,
      outputTokens: 7,
    });
    expect(openaiUsage(null)).toBeUndefined();
  });

  it("adds Anthropic's cache reads and writes back into the input tokens", () => {
    expect(
      anthropicUsage({
        input_tokens: 10,
        output_tokens: 3,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 5,
      }),
    ).toEqual({ inputTokens: 115, outputTokens: 3, cachedTokens: 100 });
    expect(anthropicUsage({ cache_read_input_tokens: 1 })).toBeUndefined();
  });

  it("estimates input from message text, ≈ 4 characters a token", () => {
    expect(estimateTokens([{ role: "user", content: [{ type: "text", text: "x".repeat(10) }] }, "abc"])).toBe(4);
  });
});

describe("overrideMethods", () => {
  class Client {
    #secret = "s";
    chat = { completions: { create: (n: number) => n + 1, list: () => "list" } };
    hello() {
      return this.#secret;
    }
  }

  it("swaps the methods named, keeps the rest working and the sub-objects stable", () => {
    const client = overrideMethods(new Client(), {
      "chat.completions.create": (original) => (n: number) => original(n) * 10,
    });
    expect(client.chat.completions.create(1)).toBe(20);
    expect(client.chat.completions.list()).toBe("list");
    expect(client.hello()).toBe("s"); // #private fields: bound to the real object
    expect(client.chat).toBe(client.chat);
  });
});

describe("settledStream", () => {
  const source = () => {
    const stream = {
      controller: new AbortController(),
      async *[Symbol.asyncIterator]() {
        yield 1;
        yield 2;
        yield 3;
      },
    };
    return stream;
  };

  it("settles once at the end, or when the reader breaks off, and keeps the stream's own members", async () => {
    const settled: boolean[] = [];
    const seen: unknown[] = [];
    const whole = settledStream(
      source(),
      (c) => seen.push(c),
      (done) => settled.push(done),
    );
    expect(whole.controller).toBeInstanceOf(AbortController);
    for await (const _ of whole) {
      // read to the end
    }
    const cut = settledStream(
      source(),
      () => undefined,
      (done) => settled.push(done),
    );
    for await (const _ of cut) break;
    expect(seen).toEqual([1, 2, 3]);
    expect(settled).toEqual([true, false]);
  });
});
