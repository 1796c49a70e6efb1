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
 * Tollgate around the Anthropic TypeScript SDK (`@anthropic-ai/sdk`):
 * `withTollgate` returns the client with `messages.create` guarded, streams
 * (`stream: true`) included. Typed structurally: nothing is imported from
 * the SDK, an optional peer dependency.
 */

export type AnthropicTollgateOptions = AdapterOptions;

/** What the adapter needs of an Anthropic client (`new Anthropic()` fits). */
export interface AnthropicLike {
  messages: { create: AnyCreate };
}

/**
 * The client, with `messages.create` guarded (everything else passes
 * through). A denied or throttled call throws `BudgetExceededError` without
 * reaching Anthropic; a degraded one is sent with the mapped model and
 * `max_tokens` capped. The guarded call returns a plain promise
 * (`.withResponse()` is not available on it), and `messages.stream()` calls
 * the unwrapped client — use `create({ …, stream: true })`.
 */
export function withTollgate<C extends AnthropicLike>(client: C, options: AnthropicTollgateOptions): C {
  const estimate = options.estimateInputTokens ?? ((body: Body) => estimateTokens([body.system, body.messages]));

  async function guarded(original: Create, body: Body, requestOptions?: Body) {
    const requestedCap = count(body.max_tokens);
    const inputEstimate = estimate(body);
    const call = await options.tollgate.begin({
      ...options.subject,
      model: String(body.model),
      provider: "anthropic",
      inputTokens: inputEstimate,
      maxOutputTokens: requestedCap,
      signal: requestOptions?.signal ?? undefined,
    });
    const sent: Body = { ...body, model: call.model };
    if (call.maxOutputTokens !== undefined) sent.max_tokens = call.maxOutputTokens;

    let result: Body;
    try {
      result = await original(sent, { ...requestOptions, signal: call.signal });
    } catch (err) {
      call.settle("error");
      throw err;
    }
    if (!body.stream) {
      const usage = anthropicUsage(result?.usage);
      if (usage) call.setUsage({ ...usage, model: call.model });
      call.settle("ok");
      return result;
    }

    // message_start carries the input (and cache) counts; each message_delta the
    // output so far — cumulative, so the last one is kept, never summed.
    let startUsage: Body | undefined;
    let lastDelta: Body | undefined;
    let outputChars = 0;
    // The SDK ends an aborted stream quietly: only message_stop says it ran to its end.
    let stopped = false;
    return settledStream(
      result as AsyncIterable<unknown>,
      (chunk) => {
        const event = chunk as Body | null;
        if (event?.type === "message_stop") stopped = true;
        else if (event?.type === "message_start") startUsage = event.message?.usage ?? undefined;
        else if (event?.type === "message_delta" && event.usage) lastDelta = event.usage;
        else if (event?.type === "content_block_delta") {
          outputChars += textLength(event.delta?.text) + textLength(event.delta?.partial_json);
          outputChars += textLength(event.delta?.thinking);
        }
      },
      (completed) => {
        // Later API versions repeat the input counts in message_delta: theirs win when present.
        const merged = startUsage || lastDelta ? { ...startUsage, ...dropNulls(lastDelta) } : undefined;
        const usage = lastDelta ? anthropicUsage(merged) : undefined;
        // Cut before any message_delta: the input Anthropic counted (else the estimate) and the text so far.
        const inputTokens = anthropicUsage(startUsage)?.inputTokens ?? inputEstimate;
        settleStreamed(call, call.model, completed && stopped, usage, { inputTokens, outputChars });
      },
    );
  }

  return overrideMethods(client, { "messages.create": (original) => (body, o) => guarded(original, body, o) });
}

const dropNulls = (value: Body | undefined): Body =>
  Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== null && v !== undefined));

/**
 * Anthropic's usage. Its `input_tokens` leaves out cache reads and writes;
 * Tollgate's input tokens include them (and prices the cached part at the
 * cache-read rate), so they are added back. Cache writes are priced as plain
 * input here: the SDK's report has no field for them yet.
 */
export function anthropicUsage(value: unknown): UsageCounts | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const u = value as Body;
  const input = count(u.input_tokens);
  const output = count(u.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const cacheRead = count(u.cache_read_input_tokens) ?? 0;
  const cacheWrite = count(u.cache_creation_input_tokens) ?? 0;
  const counts: UsageCounts = { inputTokens: (input ?? 0) + cacheRead + cacheWrite, outputTokens: output ?? 0 };
  if (cacheRead) counts.cachedTokens = cacheRead;
  return counts;
}
