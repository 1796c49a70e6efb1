import type { IdentityConfig } from "./identity";

/**
 * The plugin's config (`plugins.entries.tollgate.config` in openclaw.json),
 * checked by hand rather than with zod: the bundle the gateway loads stays a
 * few kilobytes with no dependency. openclaw.plugin.json's configSchema
 * says the same for OpenClaw's own validation.
 */
export interface PluginConfig extends IdentityConfig {
  checkUrl: string;
  ingestUrl: string;
  apiKey: string;
  orgId?: string;
  teamId?: string;
  projectId?: string;
  feature?: string;
  /** Output tokens held per turn on top of the input estimate. */
  maxOutputTokens: number;
  /** Added to every turn's input estimate: the system prompt and tool schemas the prompt does not show. */
  contextTokens: number;
  failMode: "open" | "closed";
  /** Deadline of the check; kept well under OpenClaw's 15 s hook timeout, after which it blocks by itself. */
  timeoutMs: number;
  /** "provider/model" → "provider/model": the cheaper model on degrade when the budget's own map names none. */
  degradeModels: Record<string, string>;
  /** "provider/model" to check against when the hook context does not say (default: agents.defaults.model.primary). */
  model?: string;
}

const MAX_TIMEOUT_MS = 10_000;

export class PluginConfigError extends Error {
  override readonly name = "PluginConfigError";
}

function str(raw: Record<string, unknown>, field: string, fallback?: string): string | undefined {
  const value = raw[field];
  if (value === undefined || value === null || value === "") return fallback;
  if (typeof value !== "string") throw new PluginConfigError(`tollgate: config.${field} must be a string`);
  return value.trim();
}

function num(raw: Record<string, unknown>, field: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = raw[field];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new PluginConfigError(`tollgate: config.${field} must be an integer from 0 to ${max}`);
  }
  return value;
}

function stringMap(raw: Record<string, unknown>, field: string): Record<string, string> {
  const value = raw[field] ?? {};
  if (typeof value !== "object" || Array.isArray(value) || !value) {
    throw new PluginConfigError(`tollgate: config.${field} must be an object of strings`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new PluginConfigError(`tollgate: config.${field}.${key} must be a string`);
  }
  return value as Record<string, string>;
}

/** `fallbackLinks`: OpenClaw's own session.identityLinks, used when the plugin names none. */
export function parseConfig(
  raw: Record<string, unknown> | undefined,
  env: Record<string, string | undefined> = process.env,
  fallbackLinks: Record<string, string[]> = {},
): PluginConfig {
  const input = raw ?? {};
  const url = str(input, "url", env.TOLLGATE_URL);
  const checkUrl = str(input, "checkUrl", url);
  const ingestUrl = str(input, "ingestUrl", url);
  const apiKey = str(input, "apiKey", env.TOLLGATE_API_KEY);
  if (!checkUrl || !ingestUrl) {
    throw new PluginConfigError("tollgate: set config.checkUrl and config.ingestUrl (or config.url / TOLLGATE_URL)");
  }
  if (!apiKey) throw new PluginConfigError("tollgate: set config.apiKey (or TOLLGATE_API_KEY), an agent key");
  const failMode = str(input, "failMode", "open");
  if (failMode !== "open" && failMode !== "closed") {
    throw new PluginConfigError('tollgate: config.failMode must be "open" or "closed"');
  }
  const groups = str(input, "groups", "sender");
  if (groups !== "sender" && groups !== "group") {
    throw new PluginConfigError('tollgate: config.groups must be "sender" or "group"');
  }
  const links = input.identityLinks ?? fallbackLinks;
  if (typeof links !== "object" || Array.isArray(links) || !links) {
    throw new PluginConfigError("tollgate: config.identityLinks must map a user to a list of ids");
  }
  for (const [user, ids] of Object.entries(links)) {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
      throw new PluginConfigError(`tollgate: config.identityLinks.${user} must be a list of ids`);
    }
  }
  return {
    checkUrl,
    ingestUrl,
    apiKey,
    orgId: str(input, "orgId"),
    teamId: str(input, "teamId"),
    projectId: str(input, "projectId"),
    feature: str(input, "feature"),
    defaultUser: str(input, "defaultUser", "default") as string,
    identityLinks: links as Record<string, string[]>,
    groups,
    maxOutputTokens: num(input, "maxOutputTokens", 4_096),
    contextTokens: num(input, "contextTokens", 0),
    failMode,
    timeoutMs: num(input, "timeoutMs", 3_000, MAX_TIMEOUT_MS),
    degradeModels: stringMap(input, "degradeModels"),
    model: str(input, "model"),
  };
}

/** "provider/model" → its parts; a bare id has no provider. */
export function splitModelRef(ref: string): { provider?: string; model: string } {
  const slash = ref.indexOf("/");
  return slash > 0 ? { provider: ref.slice(0, slash), model: ref.slice(slash + 1) } : { model: ref };
}

interface OtelSettings {
  diagnostics?: { enabled?: boolean; otel?: { enabled?: boolean; endpoint?: string; traces?: boolean } };
  plugins?: { entries?: Record<string, { enabled?: boolean } | undefined> };
}

/**
 * OpenClaw's diagnostics-otel exporting traces to the same Tollgate would
 * count every turn twice (its `openclaw.model.usage` span, and this
 * plugin's event). Only one of the two may report: the plugin says so at
 * start, naming the fix, rather than refusing to load (which would lift
 * every budget).
 */
export function otelDoubleCount(openclaw: OtelSettings | undefined, ingestUrl: string): string | undefined {
  const otel = openclaw?.diagnostics?.otel;
  const pluginOn = openclaw?.plugins?.entries?.["diagnostics-otel"]?.enabled === true;
  if (!pluginOn || !otel?.enabled || otel.traces === false || !otel.endpoint) return undefined;
  const hostOf = (url: string) => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  };
  if (hostOf(otel.endpoint) !== hostOf(ingestUrl)) return undefined;
  return (
    `tollgate: diagnostics-otel exports traces to ${otel.endpoint}, the Tollgate this plugin reports to: ` +
    "every turn would be counted twice. Set diagnostics.otel.traces to false (metrics and logs may stay) " +
    "or point it elsewhere."
  );
}
