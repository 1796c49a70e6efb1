import type { Tollgate } from "./client.js";
import type { GuardedCall } from "./guard.js";
import type { Subject, UsageCounts } from "./types.js";

/** The options every provider adapter takes (`withTollgate(client, options)`). */
export interface AdapterOptions {
  /** What `createTollgate` returns. */
  tollgate: Tollgate;
  /** Identities of this client's calls, over the Tollgate client's subject. Wrap per user: wrapping is cheap. */
  subject?: Subject;
  /** Input tokens of a request body; default: the text of its prompt parts / 4, a rough estimate. */
  estimateInputTokens?: (body: Record<string, unknown>) => number;
}

// biome-ignore lint/suspicious/noExplicitAny: request bodies and results are the provider SDK's, passed through
export type Body = Record<string, any>;
// biome-ignore lint/suspicious/noExplicitAny: as above
export type Create = (body: Body, options?: Record<string, any>) => Promise<any>;
// biome-ignore lint/suspicious/noExplicitAny: so that a provider SDK's overloaded `create` fits
export type AnyCreate = (...args: any[]) => any;

/**
 * What the provider-SDK adapters (`/openai`, `/anthropic`) share: swapping a
 * few methods of a client without touching the rest, settling a provider's
 * stream however it ends, and the rough input estimate used until
 * /v1/check counts messages itself.
 */

/** ≈ 4 characters a token: the usual rule of thumb for English text. */
export const CHARS_PER_TOKEN = 4;

/** Characters of text in a request: strings under `content`, `text`, `input`, `instructions`, `system`, `messages`. */
export function textLength(value: unknown): number {
  if (typeof value === "string") return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textLength(item), 0);
  if (typeof value !== "object" || value === null) return 0;
  const v = value as Record<string, unknown>;
  return ["content", "text", "input", "instructions", "system", "messages"].reduce(
    (sum, key) => sum + textLength(v[key]),
    0,
  );
}

export const estimateTokens = (value: unknown): number => Math.ceil(textLength(value) / CHARS_PER_TOKEN);

// biome-ignore lint/suspicious/noExplicitAny: provider methods are passed through with their own types
type AnyFn = (...args: any[]) => any;
type Override = (original: AnyFn) => AnyFn;
interface OverrideTree {
  [key: string]: OverrideTree | Override;
}

/**
 * The client behind a proxy that replaces the methods at the dotted paths
 * given (e.g. "chat.completions.create") and passes everything else through.
 * Other methods are bound to the real object: the SDKs keep state in
 * `#private` fields, which a proxy as `this` cannot reach.
 */
export function overrideMethods<T extends object>(client: T, overrides: Record<string, Override>): T {
  const tree: OverrideTree = {};
  for (const [path, override] of Object.entries(overrides)) {
    const keys = path.split(".");
    let node = tree;
    for (const key of keys.slice(0, -1)) {
      node[key] ??= {};
      node = node[key] as OverrideTree;
    }
    node[keys[keys.length - 1] as string] = override;
  }
  return proxied(client, tree);
}

function proxied<T extends object>(target: T, tree: OverrideTree): T {
  // biome-ignore lint/suspicious/noExplicitAny: members of a client the adapter does not know the types of
  type Member = any;
  // Cached so `client.chat === client.chat` holds, as on the real client.
  const made = new Map<string, unknown>();
  return new Proxy(target, {
    get(t, prop) {
      const value: Member = Reflect.get(t, prop, t);
      const node = typeof prop === "string" && Object.hasOwn(tree, prop) ? tree[prop] : undefined;
      if (node === undefined || value === undefined || value === null) {
        return typeof value === "function" && prop !== "constructor" ? value.bind(t) : value;
      }
      const key = prop as string;
      if (!made.has(key)) made.set(key, typeof node === "function" ? node(value.bind(t)) : proxied(value, node));
      return made.get(key);
    },
  });
}

/**
 * The provider's stream with its iterator swapped for one that shows each
 * chunk to `observe` and calls `done(completed)` once when iteration ends:
 * at the end, on a throw, or on `return()` (a `break` out of `for await`,
 * which also closes the provider's stream and so stops the call). The
 * stream's other members are the provider's own.
 */
export function settledStream<S extends AsyncIterable<unknown>>(
  stream: S,
  observe: (chunk: unknown) => void,
  done: (completed: boolean) => void,
): S {
  async function* settled(): AsyncGenerator<unknown> {
    let completed = false;
    try {
      for await (const chunk of stream) {
        observe(chunk);
        yield chunk;
      }
      completed = true;
    } finally {
      done(completed);
    }
  }
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) return () => settled();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Settles a streamed call: with the provider's usage when it came, else
 * with what was delivered (the estimated input plus the output text so far)
 * — the provider bills a cut stream too, so it is never counted as free.
 */
export function settleStreamed(
  call: GuardedCall,
  model: string,
  completed: boolean,
  usage: UsageCounts | undefined,
  fallback: { inputTokens: number; outputChars: number },
): void {
  call.setUsage({
    ...(usage ?? {
      inputTokens: fallback.inputTokens,
      outputTokens: Math.ceil(fallback.outputChars / CHARS_PER_TOKEN),
    }),
    model,
  });
  call.settle(completed && usage ? "ok" : "error");
}

export const count = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
