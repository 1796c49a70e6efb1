// Builds data/model_prices.json from LiteLLM's model price map (the copy in
// ../shared/data): only models with a per-token price, only the fields
// Tollgate prices with. Run: pnpm --filter @tollgate/pricing compact
import { readFileSync, writeFileSync } from "node:fs";
import { isPriceField } from "../src/fields";

const [source, target] = process.argv.slice(2);
if (!source || !target) throw new Error("usage: compact-prices <source.json> <target.json>");
const full = JSON.parse(readFileSync(source, "utf8")) as Record<string, Record<string, unknown>>;
const KEPT_INFO = ["litellm_provider", "mode", "max_input_tokens", "max_output_tokens"];

const compact: Record<string, Record<string, unknown>> = {};
for (const [model, spec] of Object.entries(full)) {
  if (model === "sample_spec" || typeof spec !== "object" || spec === null) continue;
  if (typeof spec.input_cost_per_token !== "number" && typeof spec.output_cost_per_token !== "number") continue;
  const kept: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(spec)) {
    if ((isPriceField(field) && typeof value === "number") || KEPT_INFO.includes(field)) kept[field] = value;
  }
  compact[model] = kept;
}
writeFileSync(target, `${JSON.stringify(compact, null, 0).replace(/\},"/g, '},\n"')}\n`);
console.log(`${Object.keys(compact).length} models written to ${target}`);
