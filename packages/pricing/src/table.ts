import { readFileSync } from "node:fs";
import type { TokenCounts } from "@tollgate/events";
import { z } from "zod";
import { BASE_PRICE_FIELDS, isPriceField } from "./fields";
import { type CostBreakdown, costOf, type ModelPrice, toModelPrice } from "./price";

/** `estimated`: no price for this exact name, but for the model it is a dated snapshot of. */
export type Lookup =
  | { known: true; key: string; price: ModelPrice; estimated: boolean }
  | { known: false; model: string };
export type Cost =
  | { known: true; key: string; estimated: boolean; cost_micro_usd: number; breakdown_pico_usd: CostBreakdown }
  | { known: false; model: string; reason: "unknown model" };

export interface PriceTable {
  lookup(model: string, provider?: string): Lookup;
  /** Never 0 for an unknown model: it says it does not know. */
  cost(model: string, usage: TokenCounts, provider?: string): Cost;
  /** The model's output limit (LiteLLM's `max_output_tokens`), found as `lookup` finds its price; null when the table has none. */
  maxOutputTokens(model: string, provider?: string): number | null;
  readonly size: number;
  /** How many prices had more precision than a pico-USD and were rounded. */
  readonly roundedPrices: number;
}

// Bundled (dist/<entry>/index.js, see infra/build.ts), the build copies the
// table to dist/assets; from source it is read in the package.
const DEFAULT_TABLE_URL =
  typeof TOLLGATE_BUNDLED !== "undefined"
    ? new URL("../assets/pricing/model_prices.json", import.meta.url)
    : new URL("../data/model_prices.json", import.meta.url);
/** Defined (true) by infra/build.ts in the bundles only. */
declare const TOLLGATE_BUNDLED: boolean | undefined;
let defaultSpecs: Record<string, Record<string, unknown>> | undefined;

/** The shipped table (LiteLLM's map, MIT), parsed once per process. */
function shippedSpecs(): Record<string, Record<string, unknown>> {
  defaultSpecs ??= JSON.parse(readFileSync(DEFAULT_TABLE_URL, "utf8")) as Record<string, Record<string, unknown>>;
  return defaultSpecs;
}

const usdPerToken = z.number({ error: "must be a number of USD per token" }).finite().min(0, { error: "must be ≥ 0" });
const overrideEntry = z
  .record(z.string(), z.unknown(), { error: "must be an object of price fields" })
  .superRefine((entry, ctx) => {
    for (const [field, value] of Object.entries(entry)) {
      if (field === "litellm_provider") {
        if (typeof value !== "string") ctx.addIssue({ code: "custom", path: [field], message: "must be a string" });
      } else if (!isPriceField(field)) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `is not a price field (${BASE_PRICE_FIELDS.join(", ")}, or a …_above_Nk_tokens tier)`,
        });
      } else {
        const parsed = usdPerToken.safeParse(value);
        if (!parsed.success)
          ctx.addIssue({ code: "custom", path: [field], message: parsed.error.issues[0]?.message ?? "invalid" });
      }
    }
  });
const overridesSchema = z.record(z.string().min(1), overrideEntry);

/** A date stamp at the end of a model name: -2024-08-06, -20250929, @20250929, -0613. */
const SNAPSHOT_SUFFIX = /[-@](\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;

export type PriceOverrides = Record<string, Record<string, unknown>>;

export class PriceOverrideError extends Error {
  override name = "PriceOverrideError";
}

/** Validates operator overrides; the error names the model and the field. */
export function parseOverrides(raw: unknown, origin = "price overrides"): PriceOverrides {
  const parsed = overridesSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PriceOverrideError(`${origin}: ${issue?.path.map(String).join(".") || "(root)"} ${issue?.message}`);
}

/**
 * The price table: the shipped prices, with operator overrides merged field
 * by field over them (a new model may be added whole). An overrides file has
 * LiteLLM's shape and units: {"model": {"input_cost_per_token": 2.5e-6, …}}.
 */
export function loadPriceTable(options: { overridesFile?: string; overrides?: PriceOverrides } = {}): PriceTable {
  const merged: Record<string, Record<string, unknown>> = { ...shippedSpecs() };
  const layers: PriceOverrides[] = [];
  if (options.overridesFile) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(options.overridesFile, "utf8"));
    } catch (err) {
      throw new PriceOverrideError(`${options.overridesFile}: not readable JSON (${(err as Error).message})`);
    }
    layers.push(parseOverrides(raw, options.overridesFile));
  }
  if (options.overrides) layers.push(parseOverrides(options.overrides));
  for (const layer of layers) {
    for (const [model, fields] of Object.entries(layer)) merged[model] = { ...(merged[model] ?? {}), ...fields };
  }

  let roundedPrices = 0;
  const exact = new Map<string, ModelPrice>();
  const outputLimits = new Map<string, number>();
  const folded = new Map<string, string>();
  for (const [model, spec] of Object.entries(merged)) {
    exact.set(
      model,
      toModelPrice(spec, () => roundedPrices++),
    );
    if (!folded.has(model.toLowerCase())) folded.set(model.toLowerCase(), model);
    const limit = spec.max_output_tokens;
    if (typeof limit === "number" && Number.isSafeInteger(limit) && limit > 0) outputLimits.set(model, limit);
  }

  const find = (name: string): string | undefined => (exact.has(name) ? name : folded.get(name.toLowerCase()));

  const lookup = (model: string, provider?: string): Lookup => {
    // Exact name, then provider-qualified, then without a provider prefix; no
    // fuzzier matching: a wrong price is worse than "unknown".
    const candidates = [model];
    if (provider) candidates.push(`${provider}/${model}`);
    const slash = model.indexOf("/");
    if (slash > 0) candidates.push(model.slice(slash + 1));
    for (const candidate of candidates) {
      const key = find(candidate);
      if (key) return { known: true, key, price: exact.get(key) as ModelPrice, estimated: false };
    }
    // A dated snapshot the table does not list yet ("gpt-4o-2099-01-01") is
    // priced as its model and flagged as an estimate; nothing fuzzier.
    for (const candidate of candidates) {
      const undated = candidate.replace(SNAPSHOT_SUFFIX, "");
      const key = undated !== candidate ? find(undated) : undefined;
      if (key) return { known: true, key, price: exact.get(key) as ModelPrice, estimated: true };
    }
    return { known: false, model };
  };

  return {
    lookup,
    cost(model, usage, provider) {
      const found = lookup(model, provider);
      if (!found.known) return { known: false, model, reason: "unknown model" };
      return { known: true, key: found.key, estimated: found.estimated, ...costOf(found.price, usage) };
    },
    maxOutputTokens(model, provider) {
      const found = lookup(model, provider);
      return found.known ? (outputLimits.get(found.key) ?? null) : null;
    },
    size: exact.size,
    roundedPrices,
  };
}
