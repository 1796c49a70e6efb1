/**
 * Who a turn is for, from what OpenClaw's hooks give: pure, so every session
 * key shape is unit-tested (identity.test.ts) without a gateway.
 *
 * OpenClaw's session keys (openclaw 2026.9.6, src/routing/session-key):
 *   agent:<agent>:main                                  the main session: the CLI, and every DM under dmScope "main"
 *   agent:<agent>:openai-user:<user>                    HTTP API (/v1/chat/completions) with a `user` field
 *   agent:<agent>:openai:<uuid>                         HTTP API without one (a fresh uuid per request)
 *   agent:<agent>:direct:<peer>                         dmScope "per-peer"
 *   agent:<agent>:<channel>:direct:<peer>               dmScope "per-channel-peer"
 *   agent:<agent>:<channel>:<account>:direct:<peer>     dmScope "per-account-channel-peer"
 *   agent:<agent>:<channel>:group|channel:<id>[:thread|topic:<id>]   groups and rooms
 * A direct peer already passed through OpenClaw's own identity links is the
 * canonical name; ours are applied on top (the same shape as its
 * `session.identityLinks`), so one person on two channels is one user.
 */

export interface IdentityConfig {
  /** The user of the main session (CLI, DMs under dmScope "main") and of anonymous HTTP requests. */
  defaultUser: string;
  /** canonical user → ["telegram:123", "discord:456", …], as OpenClaw's session.identityLinks. */
  identityLinks: Record<string, string[]>;
  /** In a group: charge the sender when the channel names one ("sender"), or the group itself ("group"). */
  groups: "sender" | "group";
}

export interface TurnContext {
  sessionKey?: string;
  agentId?: string;
  senderId?: string;
  channel?: string;
}

export type SessionShape =
  | { kind: "main"; agentId: string }
  | { kind: "http-user"; agentId: string; user: string }
  | { kind: "http-anonymous"; agentId: string }
  | { kind: "direct"; agentId: string; channel?: string; peer: string }
  | { kind: "group"; agentId: string; channel: string; group: string }
  | { kind: "other"; agentId?: string };

/** Reads a session key; anything not recognised is "other" (the sender or the default user decide then). */
export function parseSessionKey(key: string | undefined): SessionShape {
  if (!key) return { kind: "other" };
  const parts = key.split(":");
  if (parts[0] !== "agent" || parts.length < 3 || !parts[1]) return { kind: "other" };
  const agentId = parts[1];
  const rest = parts.slice(2);
  const head = rest[0] ?? "";
  if (head === "main") return { kind: "main", agentId };
  // "<prefix>-user:<user>" (openai-user, and the Responses API's own prefix): the user may hold colons.
  if (head.endsWith("-user") && rest.length >= 2) return { kind: "http-user", agentId, user: rest.slice(1).join(":") };
  if (head === "openai" || head === "openresponses") return { kind: "http-anonymous", agentId };
  const direct = rest.indexOf("direct");
  if (direct >= 0 && rest[direct + 1]) {
    const channel = direct >= 1 ? rest[0] : undefined;
    return { kind: "direct", agentId, channel, peer: rest[direct + 1] as string };
  }
  if (rest.length >= 3 && (rest[1] === "group" || rest[1] === "channel") && rest[2]) {
    return { kind: "group", agentId, channel: head, group: rest[2] };
  }
  return { kind: "other", agentId };
}

/** The canonical user a peer id is linked to, trying "<channel>:<id>" and the bare id (case-insensitive, as OpenClaw). */
export function linkedUser(links: Record<string, string[]>, id: string, channel?: string): string | undefined {
  const candidates = new Set([id.trim().toLowerCase()]);
  if (channel) candidates.add(`${channel}:${id}`.trim().toLowerCase());
  for (const [canonical, ids] of Object.entries(links)) {
    if (ids.some((linked) => candidates.has(linked.trim().toLowerCase()))) return canonical.trim();
  }
  return undefined;
}

/** A peer as a user id: linked name, else "<channel>:<id>" (ids of two channels may collide), else the id. */
function peerUser(config: IdentityConfig, id: string, channel?: string): string {
  return linkedUser(config.identityLinks, id, channel) ?? (channel ? `${channel}:${id}` : id);
}

export interface TurnIdentity {
  userId: string;
  agentId?: string;
  /** Which rule chose the user: shown in logs, asserted by tests. */
  source: "http-user" | "sender" | "direct-peer" | "group" | "default";
}

export function identify(ctx: TurnContext, config: IdentityConfig): TurnIdentity {
  const shape = parseSessionKey(ctx.sessionKey);
  const agentId = ctx.agentId ?? shape.agentId;
  const channel = ctx.channel ?? ("channel" in shape ? shape.channel : undefined);
  const sender = ctx.senderId?.trim() || undefined;
  const from = (userId: string, source: TurnIdentity["source"]): TurnIdentity => ({ userId, agentId, source });

  switch (shape.kind) {
    case "http-user":
      // The API caller named its end user; identity links may still merge it with a chat identity.
      return from(linkedUser(config.identityLinks, shape.user) ?? shape.user, "http-user");
    case "direct":
      return from(peerUser(config, shape.peer, shape.channel), "direct-peer");
    case "group":
      if (sender && config.groups === "sender") return from(peerUser(config, sender, channel), "sender");
      return from(`${shape.channel}:group:${shape.group}`, "group");
    default:
      // main session, anonymous HTTP, or an unknown shape: a channel sender still tells people apart.
      if (sender) return from(peerUser(config, sender, channel), "sender");
      return from(config.defaultUser, "default");
  }
}
