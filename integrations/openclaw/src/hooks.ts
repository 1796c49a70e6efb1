import { type CheckResult, type Tollgate, TollgateRequestError, TollgateUnavailableError } from "@tollgate/sdk";
import { type PluginConfig, splitModelRef } from "./config";
import { identify, type TurnContext, type TurnIdentity } from "./identity";
import { blockMessage, UNAVAILABLE_MESSAGE } from "./messages";
import { BoundedMap } from "./runs";

/**
 * The hooks, as plain functions of (event, ctx) so unit tests drive them
 * with a fake client. OpenClaw 2026.9.6 fires, per turn:
 *   before_model_resolve → before_agent_run → (model calls) → agent_end → llm_output
 * The model is chosen before the gate runs, so the one reserving check is
 * made in before_model_resolve (it can still degrade there); before_agent_run
 * only enforces its outcome, and makes the check itself when the first hook
 * did not fire for the turn. One check per turn, whichever hook makes it.
 */

export interface HookContext extends TurnContext {
  runId?: string;
  sessionId?: string;
  modelProviderId?: string;
  modelId?: string;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type Block = { outcome: "block"; reason: string; message: string; category: "cost_limit" };

interface Turn {
  identity: TurnIdentity;
  model: string;
  provider?: string;
  decision?: CheckResult;
  block?: Block;
  reservationId?: string;
  /** Usage signatures already reported → their event ids (a hook fired twice reports once). */
  reported: Map<string, string>;
}

export interface HookDeps {
  client: Pick<Tollgate, "reserve" | "report" | "release" | "flush">;
  config: PluginConfig;
  logger: Logger;
  /** "provider/model" of the agent's default, for a context that does not name the model. */
  defaultModelRef?: string;
  /** Shared by every registration of the plugin in the process. */
  turns?: BoundedMap<Promise<Turn>>;
}

/** ≈ 4 characters a token: a deliberate over-estimate for English is fine, the report replaces the hold. */
export const estimateTokens = (chars: number) => Math.ceil(chars / 4);

function textLength(value: unknown): number {
  if (typeof value === "string") return value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textLength(item), 0);
  if (value && typeof value === "object") {
    const { content, text } = value as { content?: unknown; text?: unknown };
    return textLength(content) + textLength(text);
  }
  return 0;
}

export function createHooks(deps: HookDeps) {
  const { client, config, logger } = deps;
  const turns = deps.turns ?? new BoundedMap<Promise<Turn>>();
  const subject = { orgId: config.orgId, teamId: config.teamId, projectId: config.projectId, feature: config.feature };

  // A turn is its run; the session key only stands in when a context has no run id (every hook of
  // 2026.9.6 has one). Never both: a session's previous turn would pass for the next one.
  const keyOf = (ctx: HookContext) =>
    ctx.runId ? `run:${ctx.runId}` : ctx.sessionKey ? `session:${ctx.sessionKey}` : undefined;
  const find = (ctx: HookContext) => {
    const key = keyOf(ctx);
    return key ? turns.get(key) : undefined;
  };

  /** Frees a hold once (a hook fired twice releases once); Tollgate's trouble is logged, never thrown at OpenClaw. */
  async function release(turn: Turn): Promise<void> {
    const reservationId = turn.reservationId;
    if (!reservationId) return;
    turn.reservationId = undefined; // usage arriving later (llm_output) is still counted, unreserved
    try {
      await client.release(reservationId);
    } catch (err) {
      logger.warn(`tollgate: release failed (the hold expires by itself): ${String(err)}`);
    }
  }

  function blocked(reason: string, message: string): Block {
    return { outcome: "block", reason, message, category: "cost_limit" };
  }

  async function decide(ctx: HookContext, inputChars: number): Promise<Turn> {
    const identity = identify(ctx, config);
    const ref =
      ctx.modelId !== undefined
        ? { provider: ctx.modelProviderId, model: ctx.modelId }
        : splitModelRef(config.model ?? deps.defaultModelRef ?? "unknown");
    const turn: Turn = { identity, model: ref.model, provider: ref.provider, reported: new Map() };
    try {
      const decision = await client.reserve({
        ...subject,
        userId: identity.userId,
        agentId: identity.agentId,
        sessionId: ctx.sessionId,
        model: ref.model,
        provider: ref.provider,
        inputTokens: estimateTokens(inputChars) + config.contextTokens,
        maxOutputTokens: config.maxOutputTokens,
      });
      turn.decision = decision;
      turn.reservationId = decision.reservationId;
      if (decision.decision === "deny" || decision.decision === "throttle") {
        turn.block = blocked(decision.reason, blockMessage(decision));
      } else if (decision.decision === "warn") {
        logger.info(`tollgate: ${identity.userId}: ${decision.reason}`);
      }
    } catch (err) {
      // A 4xx is a wrong key or tag: the operator's to fix, said every time, and it follows failMode too.
      if (err instanceof TollgateRequestError) logger.error(`tollgate: check refused: ${err.message}`);
      else if (!(err instanceof TollgateUnavailableError)) logger.error(`tollgate: check failed: ${String(err)}`);
      if (config.failMode === "closed")
        turn.block = blocked(`tollgate unavailable: ${String(err)}`, UNAVAILABLE_MESSAGE);
    }
    return turn;
  }

  /** The turn's decision: the one in flight or made, else made now (registered twice → still one check). */
  function turnFor(ctx: HookContext, inputChars: number): Promise<Turn> {
    const known = find(ctx);
    if (known) return known;
    const pending = decide(ctx, inputChars);
    const key = keyOf(ctx);
    if (key) turns.set(key, pending);
    return pending;
  }

  function override(turn: Turn): { modelOverride: string; providerOverride?: string } | undefined {
    const decision = turn.decision;
    if (decision?.decision !== "degrade") return undefined;
    const own = turn.provider ? config.degradeModels[`${turn.provider}/${turn.model}`] : undefined;
    const mapped =
      decision.model && decision.model !== turn.model ? decision.model : (own ?? config.degradeModels[turn.model]);
    if (!mapped) return undefined;
    const target = splitModelRef(mapped);
    return { modelOverride: target.model, providerOverride: target.provider ?? turn.provider };
  }

  return {
    async before_model_resolve(event: { prompt?: string }, ctx: HookContext) {
      const turn = await turnFor(ctx, textLength(event.prompt));
      return turn.block ? undefined : override(turn);
    },

    async before_agent_run(
      event: { prompt?: string; messages?: unknown[]; systemPrompt?: string; senderId?: string },
      ctx: HookContext,
    ): Promise<Block | { outcome: "pass" }> {
      const chars = textLength(event.prompt) + textLength(event.messages) + textLength(event.systemPrompt);
      const turn = await turnFor({ ...ctx, senderId: ctx.senderId ?? event.senderId }, chars);
      return turn.block ?? { outcome: "pass" };
    },

    /** A failed turn that used nothing frees its hold now rather than at the reservation's TTL. */
    async agent_end(event: { success?: boolean }, ctx: HookContext) {
      if (event.success !== false) return;
      const turn = await find(ctx);
      if (turn && turn.reported.size === 0) await release(turn);
    },

    async llm_output(
      event: {
        runId?: string;
        provider?: string;
        model?: string;
        usage?: { input?: number; output?: number; cacheRead?: number; cacheWrite?: number };
      },
      ctx: HookContext,
    ) {
      const turn = await find({ ...ctx, runId: ctx.runId ?? event.runId });
      const usage = event.usage ?? {};
      const input = (usage.input ?? 0) + (usage.cacheRead ?? 0) + (usage.cacheWrite ?? 0);
      const output = usage.output ?? 0;
      // No usage: OpenClaw 2026.9.6 ends a turn whose provider call failed with agent_end success: true
      // and an llm_output without usage, so the hold is freed here too.
      if (input + output === 0) {
        if (turn) await release(turn);
        return;
      }
      const model = event.model ?? turn?.model ?? "unknown";
      const signature = `${event.provider}/${model}/${input}/${output}/${usage.cacheRead ?? 0}`;
      if (turn?.reported.has(signature)) return;
      const runId = ctx.runId ?? event.runId;
      // The run id is the event id: a report the gateway repeats, or a hook fired twice, is counted once.
      const eventId = turn?.reported.size ? `${runId}:${turn.reported.size}` : runId;
      turn?.reported.set(signature, eventId ?? "");
      const identity = turn?.identity ?? identify(ctx, config);
      client.report({
        ...subject,
        userId: identity.userId,
        agentId: identity.agentId,
        sessionId: ctx.sessionId,
        model,
        provider: event.provider ?? turn?.provider,
        inputTokens: input,
        outputTokens: output,
        cachedTokens: usage.cacheRead || undefined,
        reservationId: turn?.reported.size === 1 ? turn.reservationId : undefined,
        eventId,
      });
      // Sent now, not at the batch interval: the user's next turn (often < 1 s later) must see this one.
      void client.flush().catch(() => undefined);
    },

    /** For tests: how many turns are tracked. */
    trackedTurns: () => turns.size,
  };
}
