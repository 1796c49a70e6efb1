import type { TokenCounts } from "@tollgate/events";
import { describe, expect, it } from "vitest";
import { loadPriceTable, PriceOverrideError } from "./table";

const table = loadPriceTable();
const usage = (u: Partial<TokenCounts>): TokenCounts => ({
  input_tokens: 0,
  output_tokens: 0,
  cached_input_tokens: 0,
  cache_creation_input_tokens: 0,
  reasoning_tokens: 0,
  ...u,
});
const micro = (model: string, u: Partial<TokenCounts>, provider?: string) => {
  const cost = table.cost(model, usage(u), provider);
  if (!cost.known) throw new Error(`${model} unknown`);
  return cost.cost_micro_usd;
};

// Expected values are worked out by hand from the literal prices in
// data/model_prices.json (USD per token; 1e-6 USD = 1 µUSD).
describe("cost to the micro-dollar", () => {
  it("gpt-4o (input 2.5e-6, output 1e-5, cache read 1.25e-6)", () => {
    // 1040 × 2.5 + 450 × 10 = 2600 + 4500
    expect(micro("gpt-4o", { input_tokens: 1040, output_tokens: 450 })).toBe(7100);
    // 1000 plain × 2.5 + 1000 cached × 1.25 + 300 × 10 = 2500 + 1250 + 3000
    expect(micro("gpt-4o", { input_tokens: 2000, cached_input_tokens: 1000, output_tokens: 300 })).toBe(6750);
  });

  it("claude-sonnet-4-5 with cache reads and writes, and its >200k tier", () => {
    // plain 4000 × 3 + cached 4000 × 0.3 + written 2000 × 3.75 + 1000 × 15 = 12000 + 1200 + 7500 + 15000
    expect(
      micro("claude-sonnet-4-5", {
        input_tokens: 10_000,
        cached_input_tokens: 4000,
        cache_creation_input_tokens: 2000,
        output_tokens: 1000,
      }),
    ).toBe(35_700);
    // above 200k input the whole request is billed at the tier: 200000 × 6 + 50000 × 0.6 + 2000 × 22.5
    expect(
      micro("claude-sonnet-4-5", { input_tokens: 250_000, cached_input_tokens: 50_000, output_tokens: 2000 }),
    ).toBe(1_275_000);
  });

  it("gemini-2.5-pro, both tiers, and the boundary", () => {
    // 1000 × 1.25 + 100 × 10
    expect(micro("gemini-2.5-pro", { input_tokens: 1000, output_tokens: 100 })).toBe(2250);
    // 300000 × 2.5 + 1000 × 15
    expect(micro("gemini-2.5-pro", { input_tokens: 300_000, output_tokens: 1000 })).toBe(765_000);
    // exactly 200000 is not above 200k: 200000 × 1.25
    expect(micro("gemini-2.5-pro", { input_tokens: 200_000 })).toBe(250_000);
  });

  it("a Mistral model, through the provider prefix, rounding half up once", () => {
    // 3 × 0.5 + 1 × 1.5 = 3
    expect(micro("mistral/mistral-large-latest", { input_tokens: 3, output_tokens: 1 })).toBe(3);
    expect(micro("mistral-large-latest", { input_tokens: 3, output_tokens: 1 }, "mistral")).toBe(3);
    // 1 × 0.5 µUSD rounds half up to 1; 0 tokens cost 0
    expect(micro("mistral/mistral-large-latest", { input_tokens: 1 })).toBe(1);
    expect(micro("mistral/mistral-large-latest", {})).toBe(0);
  });

  it("reasoning tokens at their own price when the model has one", () => {
    const custom = loadPriceTable({
      overrides: {
        "reasoner-x": {
          input_cost_per_token: 1e-6,
          output_cost_per_token: 1e-6,
          output_cost_per_reasoning_token: 4e-6,
        },
      },
    });
    const cost = custom.cost("reasoner-x", usage({ input_tokens: 10, output_tokens: 100, reasoning_tokens: 40 }));
    // 10 × 1 + 60 × 1 + 40 × 4
    expect(cost).toMatchObject({ known: true, cost_micro_usd: 230 });
  });

  it("stays exact past 2^53 pico-USD, where doubles would round", () => {
    const custom = loadPriceTable({ overrides: { "huge-x": { input_cost_per_token: 3.8927117e-5 } } });
    // 764,251,547 × 38,927,117 pico = 29,750,109,387,499,999 pico = 29,750,109,387.499999 µUSD:
    // half up gives …387; the same sum in doubles comes out as …387.5 and would round to …388.
    expect(custom.cost("huge-x", usage({ input_tokens: 764_251_547 }))).toMatchObject({
      known: true,
      cost_micro_usd: 29_750_109_387,
    });
  });

  it("says an unknown model is unknown instead of costing it 0", () => {
    expect(table.cost("gpt-99-imaginary", usage({ input_tokens: 10 }))).toEqual({
      known: false,
      model: "gpt-99-imaginary",
      reason: "unknown model",
    });
    expect(table.lookup("gpt-4").known).toBe(true);
    expect(table.lookup("gpt-4o-turbo-imaginary").known).toBe(false); // no fuzzy matching
  });

  it("prices an unlisted dated snapshot as its model, flagged as an estimate", () => {
    const cost = table.cost("gpt-4o-2099-01-01", usage({ input_tokens: 1040, output_tokens: 450 }));
    expect(cost).toMatchObject({ known: true, key: "gpt-4o", estimated: true, cost_micro_usd: 7100 });
    expect(table.cost("claude-sonnet-4-5@20990101", usage({ input_tokens: 1 }))).toMatchObject({ estimated: true });
    expect(table.cost("gpt-4o", usage({ input_tokens: 1 }))).toMatchObject({ estimated: false });
  });

  it("finds names case-insensitively", () => {
    expect(micro("GPT-4o", { input_tokens: 1040, output_tokens: 450 })).toBe(7100);
  });
});

describe("operator overrides", () => {
  it("change a price field by field and add models", () => {
    const custom = loadPriceTable({
      overrides: {
        "gpt-4o": { output_cost_per_token: 2e-5 },
        "in-house-llm": { input_cost_per_token: 1e-7, output_cost_per_token: 2e-7 },
      },
    });
    // input unchanged (2.5), output now 20: 1040 × 2.5 + 450 × 20
    expect(custom.cost("gpt-4o", usage({ input_tokens: 1040, output_tokens: 450 }))).toMatchObject({
      cost_micro_usd: 11_600,
    });
    // 10000 × 0.1 + 5000 × 0.2
    expect(custom.cost("in-house-llm", usage({ input_tokens: 10_000, output_tokens: 5000 }))).toMatchObject({
      cost_micro_usd: 2000,
    });
    expect(table.cost("in-house-llm", usage({})).known).toBe(false); // the default table is untouched
  });

  it("are refused with the model and field named", () => {
    expect(() => loadPriceTable({ overrides: { "gpt-4o": { input_cost_per_token: -1 } } })).toThrow(PriceOverrideError);
    expect(() => loadPriceTable({ overrides: { "gpt-4o": { input_cost_per_token: -1 } } })).toThrow(
      /gpt-4o\.input_cost_per_token must be ≥ 0/,
    );
    expect(() => loadPriceTable({ overrides: { m: { input_cost_per_token: "cheap" } } })).toThrow(
      /m\.input_cost_per_token must be a number/,
    );
    expect(() => loadPriceTable({ overrides: { m: { inptu_cost_per_token: 1e-6 } } })).toThrow(
      /m\.inptu_cost_per_token is not a price field/,
    );
    expect(() => loadPriceTable({ overridesFile: "/nonexistent/prices.json" })).toThrow(/not readable JSON/);
  });
});

describe("the shipped table", () => {
  it("holds thousands of models, every price a non-negative whole number of pico-USD", () => {
    expect(table.size).toBeGreaterThan(2000);
    // Only float noise (e.g. 1.2999000000000001e-7) needs rounding, and it is counted.
    expect(table.roundedPrices).toBeGreaterThan(0);
    expect(table.roundedPrices).toBeLessThan(100);
    const price = table.lookup("gpt-4o");
    expect(price.known && price.price.prices.input_cost_per_token).toBe(2_500_000);
  });
});

describe("output limits", () => {
  it("gives a model's max_output_tokens as its price is found, null when the table has none", () => {
    expect(table.maxOutputTokens("gpt-4o")).toBe(16_384);
    expect(table.maxOutputTokens("openai/gpt-4o")).toBe(16_384);
    // A dated snapshot the table does not list: its model's limit, as its price.
    expect(table.maxOutputTokens("gpt-4o-2099-01-01")).toBe(16_384);
    expect(table.maxOutputTokens("claude-sonnet-4-5")).toBe(64_000);
    expect(table.maxOutputTokens("no-such-model")).toBeNull();
    const custom = loadPriceTable({ overrides: { "my-model": { input_cost_per_token: 1e-6 } } });
    expect(custom.maxOutputTokens("my-model")).toBeNull();
  });
});
