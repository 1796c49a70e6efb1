import { z } from "zod";
import { identifier, MAX_IDENTIFIER_LENGTH, text } from "./text";

/**
 * What agents may send at POST /v1/events, before normalisation. Lenient in
 * shape (synonyms, OpenAI's nested usage details, nulls for absent optionals,
 * unknown fields ignored), strict in values (integers, lengths, formats).
 */
export const MAX_TOKENS_PER_EVENT = 1_000_000_000;
export const MAX_TAG_LENGTH = MAX_IDENTIFIER_LENGTH;
/**
 * A reservation id carries its org in base64url (see the budget engine):
 * an org id of 256 characters takes up to 1,024 of them, plus 37.
 */
export const MAX_RESERVATION_ID_LENGTH = 1_100;

const tag = identifier;

const tokens = z
  .int({ error: "must be an integer number of tokens" })
  .min(0, { error: "must be ≥ 0" })
  .max(MAX_TOKENS_PER_EVENT, { error: `must be ≤ ${MAX_TOKENS_PER_EVENT}` });

export const usageInputSchema = z.object(
  {
    input_tokens: tokens.nullish(),
    prompt_tokens: tokens.nullish(),
    output_tokens: tokens.nullish(),
    completion_tokens: tokens.nullish(),
    total_tokens: tokens.nullish(),
    cached_tokens: tokens.nullish(),
    cached_input_tokens: tokens.nullish(),
    cache_read_input_tokens: tokens.nullish(),
    cache_creation_tokens: tokens.nullish(),
    cache_creation_input_tokens: tokens.nullish(),
    reasoning_tokens: tokens.nullish(),
    // OpenAI's usage object, pasted as is.
    prompt_tokens_details: z.object({ cached_tokens: tokens.nullish() }).nullish(),
    completion_tokens_details: z.object({ reasoning_tokens: tokens.nullish() }).nullish(),
  },
  { error: "must be an object of token counts" },
);

export const usageEventInputSchema = z.object(
  {
    event_id: tag.nullish(),
    timestamp: z
      .union([z.iso.datetime({ offset: true }), z.int().min(0)], {
        error: "must be an ISO 8601 date-time with a zone (e.g. 2026-02-18T10:00:00Z) or epoch milliseconds",
      })
      .nullish(),
    trace_id: tag.nullish(),
    span_id: tag.nullish(),
    org_id: tag.nullish(),
    team_id: tag.nullish(),
    project_id: tag.nullish(),
    user_id: tag.nullish(),
    agent_id: tag.nullish(),
    session_id: tag.nullish(),
    feature: tag.nullish(),
    task_type: tag.nullish(),
    provider: tag.nullish(),
    model: tag,
    usage: usageInputSchema,
    cost_usd: z
      .union([z.number().min(0), z.string().regex(/^\s*\d+(\.\d+)?\s*$/)], {
        error: "must be a non-negative decimal number of USD",
      })
      .nullish(),
    reservation_id: text({ max: MAX_RESERVATION_ID_LENGTH }).nullish(),
    status: z.enum(["ok", "error"], { error: 'must be "ok" or "error"' }).nullish(),
  },
  { error: "must be a JSON object" },
);

/**
 * What the OTLP mapping hands to normalisation: the same fields and rules,
 * less what a span cannot carry — no event_id (it derives from trace and
 * span id), a timestamp in epoch ms, and only the canonical token fields (the
 * mapping has already chosen among the conventions' synonyms). A third
 * fewer fields for zod to walk, for every span.
 */
export const spanEventInputSchema = usageEventInputSchema.omit({ event_id: true }).extend({
  timestamp: z.int({ error: "must be epoch milliseconds" }).min(0).nullish(),
  usage: usageInputSchema.pick({
    input_tokens: true,
    output_tokens: true,
    cached_input_tokens: true,
    cache_creation_input_tokens: true,
    reasoning_tokens: true,
  }),
});

export type UsageEventInput = z.infer<typeof usageEventInputSchema>;
export type SpanEventInput = z.infer<typeof spanEventInputSchema>;
export type UsageInput = z.infer<typeof usageInputSchema>;
