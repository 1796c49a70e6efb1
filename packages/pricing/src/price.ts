import { scaleDecimal, type TokenCounts } from "@tollgate/events";
import { BASE_PRICE_FIELDS, type BasePriceField, parseTierField } from "./fields";

/** Integer pico-USD (10^-12 USD) per token: every price in the table is a whole number of these. */
export type PicoPerToken = bigint;

export interface PriceTier {
  /** Applies when the request's input exceeds this many tokens. */
  aboveTokens: number;
  prices: Partial<Record<BasePriceField, PicoPerToken>>;
}

export interface ModelPrice {
  prices: Partial<Record<BasePriceField, PicoPerToken>>;
  /** Long-context tiers, largest threshold first. */
  tiers: PriceTier[];
  provider: string | null;
}

export interface CostBreakdown {
  input: number;
  cached_input: number;
  cache_creation: number;
  output: number;
  reasoning: number;
}

/** Converts one LiteLLM entry (USD per token) to integer pico-USD per token. */
export function toModelPrice(spec: Record<string, unknown>, onRounded: () => void = () => {}): ModelPrice {
  const price: ModelPrice = {
    prices: {},
    tiers: [],
    provider: typeof spec.litellm_provider === "string" ? spec.litellm_provider : null,
  };
  const tiers = new Map<number, PriceTier>();
  for (const [field, value] of Object.entries(spec)) {
    if (typeof value !== "number") continue;
    const tier = parseTierField(field);
    const base = tier
      ? tier.base
      : (BASE_PRICE_FIELDS as ReadonlyArray<string>).includes(field)
        ? (field as BasePriceField)
        : null;
    if (!base) continue;
    const scaled = scaleDecimal(value, 12);
    if (scaled === null) throw new Error(`${field} must be a non-negative number of USD per token, got ${value}`);
    if (scaled.rounded) onRounded();
    if (!tier) {
      price.prices[base] = scaled.value;
      continue;
    }
    const entry = tiers.get(tier.aboveTokens) ?? { aboveTokens: tier.aboveTokens, prices: {} };
    entry.prices[base] = scaled.value;
    tiers.set(tier.aboveTokens, entry);
  }
  price.tiers = [...tiers.values()].sort((a, b) => b.aboveTokens - a.aboveTokens);
  return price;
}

/**
 * The exact cost of one usage in micro-USD. Conventions (as the event
 * contract): cache reads and cache writes are part of input_tokens, reasoning
 * is part of output_tokens. A missing cache or reasoning price falls back to
 * the plain input or output price. Past a long-context threshold (e.g. more
 * than 200k input tokens) the tier's prices apply to the whole request, as
 * the providers bill it (and LiteLLM computes it). The components are summed
 * in pico-USD and rounded half up once, to micro-USD.
 */
export function costOf(
  price: ModelPrice,
  usage: TokenCounts,
): { cost_micro_usd: number; breakdown_pico_usd: CostBreakdown } {
  const tier = price.tiers.find((t) => usage.input_tokens > t.aboveTokens);
  const rate = (field: BasePriceField): PicoPerToken | undefined => tier?.prices[field] ?? price.prices[field];
  const input = rate("input_cost_per_token") ?? 0n;
  const output = rate("output_cost_per_token") ?? 0n;
  const plainInput = BigInt(usage.input_tokens - usage.cached_input_tokens - usage.cache_creation_input_tokens);
  const plainOutput = BigInt(usage.output_tokens - usage.reasoning_tokens);

  const parts = {
    input: plainInput * input,
    cached_input: BigInt(usage.cached_input_tokens) * (rate("cache_read_input_token_cost") ?? input),
    cache_creation: BigInt(usage.cache_creation_input_tokens) * (rate("cache_creation_input_token_cost") ?? input),
    output: plainOutput * output,
    reasoning: BigInt(usage.reasoning_tokens) * (rate("output_cost_per_reasoning_token") ?? output),
  };
  const totalPico = parts.input + parts.cached_input + parts.cache_creation + parts.output + parts.reasoning;
  return {
    cost_micro_usd: Number((totalPico + 500_000n) / 1_000_000n),
    breakdown_pico_usd: {
      input: Number(parts.input),
      cached_input: Number(parts.cached_input),
      cache_creation: Number(parts.cache_creation),
      output: Number(parts.output),
      reasoning: Number(parts.reasoning),
    },
  };
}
