/**
 * The LiteLLM price fields Tollgate uses, all USD per token: the base prices
 * and their long-context tiers (`…_above_200k_tokens` etc.). Batch, flex and
 * priority service tiers, audio, image and per-character prices are not
 * token usage an agent reports, so they are left out.
 */
export const BASE_PRICE_FIELDS = [
  "input_cost_per_token",
  "output_cost_per_token",
  "cache_read_input_token_cost",
  "cache_creation_input_token_cost",
  "output_cost_per_reasoning_token",
] as const;
export type BasePriceField = (typeof BASE_PRICE_FIELDS)[number];

const TIER =
  /^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_(\d+)k_tokens$/;

export function isPriceField(field: string): boolean {
  return (BASE_PRICE_FIELDS as ReadonlyArray<string>).includes(field) || TIER.test(field);
}

/** "input_cost_per_token_above_200k_tokens" → { base: "input_cost_per_token", aboveTokens: 200000 }. */
export function parseTierField(field: string): { base: BasePriceField; aboveTokens: number } | null {
  const match = TIER.exec(field);
  return match ? { base: match[1] as BasePriceField, aboveTokens: Number(match[2]) * 1000 } : null;
}
