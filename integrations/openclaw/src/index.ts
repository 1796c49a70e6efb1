import { createTollgate } from "@tollgate/sdk";
import { otelDoubleCount, parseConfig } from "./config";
import { createHooks } from "./hooks";
import { BoundedMap } from "./runs";

/**
 * The OpenClaw plugin entry. OpenClaw calls `register()` several times in
 * one gateway process (discovery, setup and the runtime registry each get an
 * `api`), and may load this module more than once: so the client and the
 * per-turn state live on globalThis under a symbol, keyed by the config,
 * and hooks are added once per `api`. A turn seen by two registrations is
 * still checked once and reported once (hooks.ts).
 */

interface PluginApi {
  registrationMode?: string;
  pluginConfig?: Record<string, unknown>;
  config?: Parameters<typeof otelDoubleCount>[0] & {
    agents?: { defaults?: { model?: unknown } };
    session?: { identityLinks?: Record<string, string[]> };
  };
  logger: { info(m: string): void; warn(m: string): void; error(m: string): void };
  on(hook: string, handler: (event: never, ctx: never) => unknown, options?: Record<string, unknown>): void;
}

interface Shared {
  runtimes: Map<string, ReturnType<typeof createHooks>>;
  apis: WeakSet<object>;
  turns: BoundedMap<never>;
}

const SHARED = Symbol.for("tollgate.openclaw.v1");
const globals = globalThis as Record<symbol, Shared | undefined>;
globals[SHARED] ??= { runtimes: new Map(), apis: new WeakSet(), turns: new BoundedMap() };
const shared = globals[SHARED];

/** agents.defaults.model is "provider/model" or { primary: "provider/model" }. */
function defaultModelRef(api: PluginApi): string | undefined {
  const model = api.config?.agents?.defaults?.model;
  if (typeof model === "string") return model;
  const primary = (model as { primary?: unknown } | undefined)?.primary;
  return typeof primary === "string" ? primary : undefined;
}

const HOOKS = ["before_model_resolve", "before_agent_run", "agent_end", "llm_output"] as const;

export default {
  id: "tollgate",
  name: "Tollgate budgets",
  description: "Per-user token and cost budgets: checks each turn before the model runs, reports its usage after.",
  register(api: PluginApi) {
    // Every registration gets the hooks (which one the gateway runs turns with is its business);
    // they share one client and one turn table, so that costs nothing twice.
    if (shared.apis.has(api)) return;
    shared.apis.add(api);
    const config = parseConfig(api.pluginConfig, process.env, api.config?.session?.identityLinks);
    const key = JSON.stringify([config, defaultModelRef(api)]);
    let hooks = shared.runtimes.get(key);
    if (!hooks) {
      const logger = api.logger;
      const client = createTollgate({
        checkUrl: config.checkUrl,
        ingestUrl: config.ingestUrl,
        apiKey: config.apiKey,
        timeoutMs: config.timeoutMs,
        failMode: config.failMode,
        logger: { warn: (message) => logger.warn(`tollgate: ${message}`) },
      });
      hooks = createHooks({ client, config, logger, defaultModelRef: defaultModelRef(api), turns: shared.turns });
      shared.runtimes.set(key, hooks);
      const twice = otelDoubleCount(api.config, config.ingestUrl);
      if (twice) logger.error(twice);
      logger.info(`tollgate: budgets from ${config.checkUrl} (fail ${config.failMode}, ${config.timeoutMs} ms)`);
    }
    for (const hook of HOOKS) api.on(hook, hooks[hook] as (event: never, ctx: never) => unknown);
  },
};
