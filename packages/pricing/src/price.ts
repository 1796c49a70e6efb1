import { scaleDecimal, type TokenCounts } from "@tollgate/events";
import { BASE_PRICE_FIELDS, type BasePriceField, parseTierField } from "./fields";

/**
 * Integer pico-USD (10^-12 USD) per token: every price in the table is a
 * whole number of these, well below 2^53 (checked as the table loads).
 */
export type PicoPerToken = number;

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
    const pico = scaled === null ? Number.NaN : Number(scaled.value);
    if (scaled === null || !Number.isSafeInteger(pico)) {
      throw new Error(`${field} must be a non-negative number of USD per token below 9,000 USD, got ${value}`);
    }
    if (scaled.rounded) onRounded();
    if (!tier) {
      price.prices[base] = pico;
      continue;
    }
    const entry = tiers.get(tier.aboveTokens) ?? { aboveTokens: tier.aboveTokens, prices: {} };
    entry.prices[base] = pico;
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
 *
 * Integer arithmetic throughout: in numbers while every product and the sum
 * stay below 2^53 (where a double holds every integer exactly — nearly every
 * request, priced for each event at ingest), else in BigInt.
 */
export function costOf(
  price: ModelPrice,
  usage: TokenCounts,
): { cost_micro_usd: number; breakdown_pico_usd: CostBreakdown } {
  let tier: PriceTier | undefined;
  for (const t of price.tiers) {
    if (usage.input_tokens > t.aboveTokens) {
      tier = t;
      break;
    }
  }
  const input = rateOf(price, tier, "input_cost_per_token") ?? 0;
  const output = rateOf(price, tier, "output_cost_per_token") ?? 0;
  const cacheRead = rateOf(price, tier, "cache_read_input_token_cost") ?? input;
  const cacheWrite = rateOf(price, tier, "cache_creation_input_token_cost") ?? input;
  const reasoning = rateOf(price, tier, "output_cost_per_reasoning_token") ?? output;
  const plainInput = usage.input_tokens - usage.cached_input_tokens - usage.cache_creation_input_tokens;
  const plainOutput = usage.output_tokens - usage.reasoning_tokens;

  const breakdown_pico_usd: CostBreakdown = {
    input: plainInput * input,
    cached_input: usage.cached_input_tokens * cacheRead,
    cache_creation: usage.cache_creation_input_tokens * cacheWrite,
    output: plainOutput * output,
    reasoning: usage.reasoning_tokens * reasoning,
  };
  const b = breakdown_pico_usd;
  const shifted = b.input + b.cached_input + b.cache_creation + b.output + b.reasoning + HALF_MICRO_IN_PICO;
  // A product or sum past 2^53 may have been rounded; no part is negative, so
  // every partial sum is at most the total and checking the parts and the total is enough.
  const safe = Number.isSafeInteger;
  if (
    safe(b.input) &&
    safe(b.cached_input) &&
    safe(b.cache_creation) &&
    safe(b.output) &&
    safe(b.reasoning) &&
    safe(shifted)
  ) {
    return { cost_micro_usd: (shifted - (shifted % PICO_PER_MICRO)) / PICO_PER_MICRO, breakdown_pico_usd };
  }
  const totalPico =
    BigInt(plainInput) * BigInt(input) +
    BigInt(usage.cached_input_tokens) * BigInt(cacheRead) +
    BigInt(usage.cache_creation_input_tokens) * BigInt(cacheWrite) +
    BigInt(plainOutput) * BigInt(output) +
    BigInt(usage.reasoning_tokens) * BigInt(reasoning);
  const cost_micro_usd = Number((totalPico + BigInt(HALF_MICRO_IN_PICO)) / BigInt(PICO_PER_MICRO));
  return { cost_micro_usd, breakdown_pico_usd };
}

const PICO_PER_MICRO = 1_000_000;
const HALF_MICRO_IN_PICO = 500_000;

function rateOf(price: ModelPrice, tier: PriceTier | undefined, field: BasePriceField): PicoPerToken | undefined {
  return tier?.prices[field] ?? price.prices[field];
}
