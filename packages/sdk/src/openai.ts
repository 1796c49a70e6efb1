import {
  type AdapterOptions,
  type AnyCreate,
  type Body,
  type Create,
  count,
  estimateTokens,
  overrideMethods,
  settledStream,
  settleStreamed,
  textLength,
} from "./adapter-kit.js";
import type { UsageCounts } from "./types.js";

/**
 * Tollgate around the OpenAI Node SDK (`openai` 6; 7, which needs Node 22,
 * is untested): `withTollgate` returns the client with
 * `chat.completions.create` and `responses.create` guarded — reserve before, the degraded model and output cap written into
 * the request, usage reported once after (from the response, or from a
 * stream's last chunk, for which `stream_options.include_usage` is forced
 * on). Typed structurally: nothing is imported from `openai`, an optional
 * peer dependency.
 */

export type OpenAITollgateOptions = AdapterOptions;

/** What the adapter needs of an OpenAI client (`new OpenAI()` fits). */
export interface OpenAILike {
  chat: { completions: { create: AnyCreate } };
  responses?: { create: AnyCreate };
}

/**
 * The client, with `chat.completions.create` and `responses.create` guarded
 * (everything else passes through). A denied or throttled call throws
 * `BudgetExceededError` without reaching OpenAI. The guarded calls return a
 * plain promise: `.withResponse()` / `.asResponse()` are not available on
 * them, and the SDK's helpers (`chat.completions.stream()`, `parse()`,
 * `responses.stream()`) call the unwrapped client — use `create`.
 */
export function withTollgate<C extends OpenAILike>(client: C, options: OpenAITollgateOptions): C {
  const estimate =
    options.estimateInputTokens ?? ((body: Body) => estimateTokens([body.messages, body.input, body.instructions]));
  const guard =
    (kind: "chat" | "responses") =>
    (original: Create): Create =>
    (body, requestOptions) =>
      guarded(kind, original, body, requestOptions);

  async function guarded(kind: "chat" | "responses", original: Create, body: Body, requestOptions?: Body) {
    const capKey =
      kind === "responses"
        ? "max_output_tokens"
        : body.max_completion_tokens == null && body.max_tokens != null
          ? "max_tokens"
          : "max_completion_tokens";
    const requestedCap = count(body[capKey]);
    const inputTokens = estimate(body);
    const call = await options.tollgate.begin({
      ...options.subject,
      model: String(body.model),
      provider: "openai",
      inputTokens,
      maxOutputTokens: requestedCap,
      signal: requestOptions?.signal ?? undefined,
    });
    const sent: Body = { ...body, model: call.model };
    if (call.maxOutputTokens !== undefined && call.maxOutputTokens !== requestedCap) {
      sent[capKey] = call.maxOutputTokens;
    }
    // Without it a chat stream carries no usage at all, and would be charged only an estimate.
    if (kind === "chat" && body.stream) sent.stream_options = { ...body.stream_options, include_usage: true };

    let result: Body;
    try {
      result = await original(sent, { ...requestOptions, signal: call.signal });
    } catch (err) {
      call.settle("error");
      throw err;
    }
    if (!body.stream) {
      const usage = openaiUsage(result?.usage);
      if (usage) call.setUsage({ ...usage, model: call.model });
      call.settle("ok");
      return result;
    }

    let usage: UsageCounts | undefined;
    let outputChars = 0;
    return settledStream(
      result as AsyncIterable<unknown>,
      (chunk) => {
        const c = chunk as Body | null;
        // Chat: the last chunk's `usage` (null before). Responses: the terminal event's `response.usage`.
        const found = openaiUsage(kind === "chat" ? c?.usage : c?.response?.usage);
        if (found) usage = found;
        if (kind === "chat") {
          for (const choice of c?.choices ?? []) {
            outputChars += textLength(choice?.delta?.content);
            for (const tool of choice?.delta?.tool_calls ?? []) outputChars += textLength(tool?.function?.arguments);
          }
        } else if (typeof c?.type === "string" && c.type.endsWith(".delta")) {
          outputChars += textLength(c.delta);
        }
      },
      (completed) => settleStreamed(call, call.model, completed, usage, { inputTokens, outputChars }),
    );
  }

  return overrideMethods(client, {
    "chat.completions.create": guard("chat"),
    "responses.create": guard("responses"),
  });
}

/**
 * Chat completions' usage (`prompt_tokens`, `completion_tokens`, `*_details`)
 * or the Responses API's (`input_tokens`, `output_tokens`, `*_details`).
 * Cached tokens are part of the input tokens, as Tollgate counts them.
 */
export function openaiUsage(value: unknown): UsageCounts | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const u = value as Body;
  const input = count(u.prompt_tokens) ?? count(u.input_tokens);
  const output = count(u.completion_tokens) ?? count(u.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const counts: UsageCounts = { inputTokens: input ?? 0, outputTokens: output ?? 0 };
  const cached = count(u.prompt_tokens_details?.cached_tokens) ?? count(u.input_tokens_details?.cached_tokens);
  const reasoning =
    count(u.completion_tokens_details?.reasoning_tokens) ?? count(u.output_tokens_details?.reasoning_tokens);
  if (cached) counts.cachedTokens = cached;
  if (reasoning) counts.reasoningTokens = reasoning;
  return counts;
}
