import type { Tollgate } from "./client.js";
import type { GuardedCall } from "./guard.js";
import type { Subject, UsageCounts } from "./types.js";

/**
 * Tollgate as a Vercel AI SDK language-model middleware, for
 * `wrapLanguageModel` of ai 5 (LanguageModelV2) and ai 6 (V3). Typed
 * structurally, so the package needs no import of `ai` at run time or in
 * its types: `ai` is an optional peer dependency.
 */

/** What the middleware needs of a language model (V2 and V3 alike). */
export interface AiLanguageModel {
  readonly modelId: string;
  readonly provider: string;
  // biome-ignore lint/suspicious/noExplicitAny: call options and results are the framework's, passed through untouched
  doGenerate(options: any): PromiseLike<any>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  doStream(options: any): PromiseLike<{ stream: ReadableStream<any> }>;
}

export interface TollgateMiddlewareOptions {
  /** What `createTollgate` returns. */
  client: Tollgate;
  /** Identities of this model's calls, over the client's subject. */
  subject?: Subject;
  /**
   * The model a degrade budget maps to, as a language model of your
   * provider (e.g. `(id) => openai(id)`). Without it a degrade decision
   * only caps the output: the call goes to the model you wrapped.
   */
  resolveModel?: (modelId: string) => AiLanguageModel;
  /** Input tokens of a call's prompt; default: its text's length / 4 (a rough estimate). */
  estimateInputTokens?: (prompt: unknown) => number;
}

/** The middleware object; assignable to ai 5's and ai 6's `LanguageModelMiddleware`. */
export interface TollgateMiddleware {
  readonly specificationVersion: "v3";
  readonly middlewareVersion: "v2";
  // Method syntax on purpose: parameters compare bivariantly, so both frameworks' option types fit.
  // biome-ignore lint/suspicious/noExplicitAny: the framework's call options and results
  wrapGenerate(options: { params: any; model: AiLanguageModel }): Promise<any>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  wrapStream(options: { params: any; model: AiLanguageModel }): Promise<any>;
}

/** ≈ 4 characters a token: the usual rule of thumb for English text, until /v1/check counts messages itself. */
const CHARS_PER_TOKEN = 4;

export function tollgateMiddleware(options: TollgateMiddlewareOptions): TollgateMiddleware {
  const estimate =
    options.estimateInputTokens ?? ((prompt: unknown) => Math.ceil(textLength(prompt) / CHARS_PER_TOKEN));

  async function begin(
    params: { prompt?: unknown; maxOutputTokens?: number; abortSignal?: AbortSignal },
    model: AiLanguageModel,
  ) {
    const call = await options.client.begin({
      ...options.subject,
      model: model.modelId,
      provider: model.provider,
      inputTokens: estimate(params.prompt),
      maxOutputTokens: params.maxOutputTokens,
      signal: params.abortSignal,
    });
    const target = call.model !== model.modelId && options.resolveModel ? options.resolveModel(call.model) : model;
    const callParams = { ...params, maxOutputTokens: call.maxOutputTokens, abortSignal: call.signal };
    return { call, target, callParams };
  }

  return {
    specificationVersion: "v3",
    middlewareVersion: "v2",

    async wrapGenerate({ params, model }) {
      const { call, target, callParams } = await begin(params, model);
      try {
        const result = await target.doGenerate(callParams);
        const usage = usageOfAi(result?.usage);
        if (usage) call.setUsage({ ...usage, model: target.modelId });
        call.settle("ok");
        return result;
      } catch (err) {
        call.settle("error");
        throw err;
      }
    },

    async wrapStream({ params, model }) {
      const { call, target, callParams } = await begin(params, model);
      try {
        const result = await target.doStream(callParams);
        return { ...result, stream: settledStream(result.stream, call, target.modelId, callParams.prompt, estimate) };
      } catch (err) {
        call.settle("error");
        throw err;
      }
    },
  };
}

/**
 * The provider's stream, settled once: at its end with the finish part's
 * usage; when the reader cancels it or it errors, with that usage if it came,
 * else with what was delivered (the estimated input plus the output text so
 * far, ≈ 4 characters a token) — the provider bills a cut stream too, so it
 * is charged, never left as a hold or counted as free.
 */
function settledStream(
  stream: ReadableStream<unknown>,
  call: GuardedCall,
  modelId: string,
  prompt: unknown,
  estimate: (prompt: unknown) => number,
): ReadableStream<unknown> {
  const reader = stream.getReader();
  let finishUsage: UsageCounts | undefined;
  let outputChars = 0;
  const settle = (status: "ok" | "error") => {
    const usage = finishUsage ?? {
      inputTokens: estimate(prompt),
      outputTokens: Math.ceil(outputChars / CHARS_PER_TOKEN),
    };
    call.setUsage({ ...usage, model: modelId });
    call.settle(status);
  };
  return new ReadableStream<unknown>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          settle(finishUsage ? "ok" : "error");
          controller.close();
          return;
        }
        const part = value as { type?: string; usage?: unknown; delta?: unknown; textDelta?: unknown };
        if (part?.type === "finish") finishUsage = usageOfAi(part.usage);
        else if (part?.type === "text-delta") outputChars += String(part.delta ?? part.textDelta ?? "").length;
        controller.enqueue(value);
      } catch (err) {
        settle("error");
        controller.error(err);
      }
    },
    async cancel(reason) {
      settle("error");
      await reader.cancel(reason);
    },
  });
}

const num = (value: unknown): number | undefined => (typeof value === "number" && value >= 0 ? value : undefined);

/** Usage of ai 5 (`inputTokens: number`, …) and ai 6 (`inputTokens: { total, cacheRead }`, …). */
export function usageOfAi(usage: unknown): UsageCounts | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const u = usage as Record<string, unknown>;
  const inputV3 = typeof u.inputTokens === "object" ? (u.inputTokens as Record<string, unknown> | null) : undefined;
  const outputV3 = typeof u.outputTokens === "object" ? (u.outputTokens as Record<string, unknown> | null) : undefined;
  const input = inputV3 !== undefined ? num(inputV3?.total) : num(u.inputTokens);
  const output = outputV3 !== undefined ? num(outputV3?.total) : num(u.outputTokens);
  if (input === undefined && output === undefined) return undefined;
  const counts: UsageCounts = { inputTokens: input ?? 0, outputTokens: output ?? 0 };
  const cached = inputV3 !== undefined ? num(inputV3?.cacheRead) : num(u.cachedInputTokens);
  const reasoning = outputV3 !== undefined ? num(outputV3?.reasoning) : num(u.reasoningTokens);
  if (cached !== undefined) counts.cachedTokens = cached;
  if (reasoning !== undefined) counts.reasoningTokens = reasoning;
  return counts;
}

/** Characters of text in a prompt (messages with string or text-part content). */
function textLength(value: unknown): number {
  if (typeof value === "string") return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textLength(item), 0);
  if (typeof value !== "object" || value === null) return 0;
  const v = value as { text?: unknown; content?: unknown };
  return textLength(v.text) + textLength(v.content);
}
