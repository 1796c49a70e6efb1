import { text } from "@tollgate/events";
import { z } from "zod";

/**
 * Input tokens counted from what the agent is about to send (`messages` or
 * `prompt` in a check), for callers that do not count them themselves.
 *
 * Exact for the OpenAI models whose encoding is known (gpt-4o, gpt-4.1,
 * gpt-4.5, gpt-5, o-series → o200k_base; gpt-4, gpt-3.5 → cl100k_base): the
 * text is encoded with gpt-tokenizer (tiktoken's ranks, pure JS) and the chat
 * template overhead is OpenAI's documented rule (the cookbook's
 * num_tokens_from_messages, the same as gpt-tokenizer's
 * countChatCompletionTokens): 3 tokens per message, +1 when it has a `name`,
 * +3 that prime the reply. Everything else (Anthropic, Gemini, unknown, or
 * content given as parts, whose joining the provider does not document) is
 * counted the same way with o200k_base and flagged `estimated`: those
 * tokenizers are not public, so the count is an approximation, not the bill.
 */

/** The most characters one text of a message may hold; the body limit bounds the total. */
export const MAX_MESSAGE_TEXT = 256 * 1024;
export const MAX_MESSAGES = 10_000;

// Prompt text travels unchanged: trimming it would change what is counted.
const promptText = text({ max: MAX_MESSAGE_TEXT, min: 0, trim: false });
const textPart = z.strictObject(
  {
    type: z.literal("text", { error: 'must be "text" (only text parts are counted)' }),
    text: promptText,
    // Anthropic's prompt-caching marker: accepted so a request can be checked as it will be sent.
    cache_control: z.strictObject({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).optional() }).optional(),
  },
  { error: 'must be a {"type": "text", "text": …} part' },
);
const content = z.union([promptText, z.array(textPart).max(MAX_MESSAGES)], {
  error: 'must be a string or an array of {"type": "text", "text": …} parts',
});
const message = z.strictObject(
  { role: text({ max: 64 }), content, name: text({ max: 256 }).optional() },
  { error: "must be a message {role, content, name?}" },
);

/** The check's estimation fields: OpenAI's `messages`, Anthropic's `system` + `messages`, or a bare `prompt`. */
export const estimateFields = {
  messages: z.array(message, { error: "must be an array of messages" }).min(1).max(MAX_MESSAGES).optional(),
  system: content.optional(),
  prompt: promptText.optional(),
};

type Content = z.infer<typeof content>;
export interface EstimateInput {
  model: string | null;
  messages?: Array<{ role: string; content: Content; name?: string | undefined }> | undefined;
  system?: Content | undefined;
  prompt?: string | undefined;
}
export interface Counted {
  input_tokens: number;
  input_tokens_estimated: boolean;
}

export type EncodingName = "o200k_base" | "cl100k_base";

/**
 * The encoding an OpenAI model uses, by name (a provider prefix and a dated
 * suffix do not change it), or null when the model is not one we know.
 */
export function encodingOf(model: string | null): EncodingName | null {
  if (!model) return null;
  const name = model.toLowerCase().replace(/^(openai|azure)\//, "");
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4)(\b|-|$)/.test(name)) return "o200k_base";
  if (/^(gpt-4|gpt-3\.5)(\b|-|$)/.test(name)) return "cl100k_base";
  return null;
}

/** OpenAI's chat template overhead (see the header): per message, per name, and the reply's priming. */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;

type CountText = (value: string) => number;
const encoders = new Map<EncodingName, Promise<CountText>>();

/**
 * The tokenizer is loaded on the first check that brings text (its ranks are
 * a few MB to parse): a process serving only `input_tokens` checks never
 * loads it, and the hot path does no more work than before.
 */
function encoder(name: EncodingName): Promise<CountText> {
  let loaded = encoders.get(name);
  if (!loaded) {
    loaded = (
      name === "o200k_base" ? import("gpt-tokenizer/encoding/o200k_base") : import("gpt-tokenizer/encoding/cl100k_base")
    ).then((mod) => (value: string) => (value.length === 0 ? 0 : mod.countTokens(value)));
    encoders.set(name, loaded);
  }
  return loaded;
}

/** Counts the input tokens of a check's `messages` (with `system`) or `prompt`. */
export async function countInputTokens(input: EstimateInput): Promise<Counted> {
  const known = encodingOf(input.model);
  const count = await encoder(known ?? "o200k_base");
  // A non-OpenAI model's tokenizer is not this one; a top-level system prompt is
  // Anthropic's shape; parts are joined as the provider does, undocumented.
  let estimated = known === null || input.system !== undefined;
  const contentTokens = (value: Content): number => {
    if (typeof value === "string") return count(value);
    estimated = true;
    let sum = 0;
    for (const part of value) sum += count(part.text);
    return sum;
  };
  if (input.prompt !== undefined) {
    // A completion prompt has no chat template: its tokens are the text's.
    return { input_tokens: count(input.prompt), input_tokens_estimated: estimated };
  }
  let total = REPLY_PRIMING_TOKENS;
  // Anthropic's top-level system prompt, counted as a system message would be.
  if (input.system !== undefined) total += TOKENS_PER_MESSAGE + count("system") + contentTokens(input.system);
  for (const m of input.messages ?? []) {
    total += TOKENS_PER_MESSAGE + count(m.role) + contentTokens(m.content);
    if (m.name !== undefined) total += count(m.name) + TOKENS_PER_NAME;
  }
  return { input_tokens: total, input_tokens_estimated: estimated };
}
