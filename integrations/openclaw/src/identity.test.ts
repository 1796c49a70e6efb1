import { describe, expect, it } from "vitest";
import { type IdentityConfig, identify, parseSessionKey } from "./identity";

const config: IdentityConfig = {
  defaultUser: "owner",
  identityLinks: { alice: ["telegram:111", "discord:AliceD"] },
  groups: "sender",
};

describe("parseSessionKey", () => {
  it("reads every shape OpenClaw builds", () => {
    expect(parseSessionKey("agent:main:main")).toEqual({ kind: "main", agentId: "main" });
    expect(parseSessionKey("agent:main:openai-user:cust-1")).toEqual({
      kind: "http-user",
      agentId: "main",
      user: "cust-1",
    });
    expect(parseSessionKey("agent:ops:openai-user:urn:acme:42")).toMatchObject({ user: "urn:acme:42" });
    expect(parseSessionKey("agent:main:openai:5b0c…")).toEqual({ kind: "http-anonymous", agentId: "main" });
    expect(parseSessionKey("agent:main:direct:bob")).toEqual({
      kind: "direct",
      agentId: "main",
      channel: undefined,
      peer: "bob",
    });
    expect(parseSessionKey("agent:main:telegram:direct:222")).toMatchObject({ channel: "telegram", peer: "222" });
    expect(parseSessionKey("agent:main:slack:work:direct:u9")).toMatchObject({ channel: "slack", peer: "u9" });
    expect(parseSessionKey("agent:main:telegram:group:-100123:topic:42")).toEqual({
      kind: "group",
      agentId: "main",
      channel: "telegram",
      group: "-100123",
    });
    expect(parseSessionKey("agent:main:discord:channel:987")).toMatchObject({ kind: "group", group: "987" });
    expect(parseSessionKey("global")).toEqual({ kind: "other" });
    expect(parseSessionKey(undefined)).toEqual({ kind: "other" });
  });
});

describe("identify", () => {
  it("takes the HTTP API's user field, the agent from agentId", () => {
    expect(identify({ sessionKey: "agent:main:openai-user:cust-1", agentId: "main" }, config)).toEqual({
      userId: "cust-1",
      agentId: "main",
      source: "http-user",
    });
  });

  it("gives the CLI / main session and anonymous HTTP requests the default user", () => {
    expect(identify({ sessionKey: "agent:main:main" }, config)).toEqual({
      userId: "owner",
      agentId: "main",
      source: "default",
    });
    // A fresh uuid per anonymous request would give everyone an empty budget: they share the default.
    expect(identify({ sessionKey: "agent:main:openai:0f3e" }, config).userId).toBe("owner");
  });

  it("charges a DM's peer, per channel, and merges linked identities", () => {
    expect(identify({ sessionKey: "agent:main:telegram:direct:222" }, config).userId).toBe("telegram:222");
    expect(identify({ sessionKey: "agent:main:telegram:direct:111" }, config).userId).toBe("alice");
    expect(identify({ sessionKey: "agent:main:discord:acct:direct:aliced" }, config).userId).toBe("alice");
    // per-peer scope: OpenClaw already applied its own links, the peer is the canonical name.
    expect(identify({ sessionKey: "agent:main:direct:bob" }, config)).toMatchObject({
      userId: "bob",
      source: "direct-peer",
    });
  });

  it("charges a group's sender when known, else the group", () => {
    const group = { sessionKey: "agent:main:telegram:group:-100123", channel: "telegram" };
    expect(identify({ ...group, senderId: "111" }, config)).toMatchObject({ userId: "alice", source: "sender" });
    expect(identify({ ...group, senderId: "333" }, config).userId).toBe("telegram:333");
    expect(identify(group, config)).toMatchObject({ userId: "telegram:group:-100123", source: "group" });
    expect(identify({ ...group, senderId: "333" }, { ...config, groups: "group" }).userId).toBe(
      "telegram:group:-100123",
    );
  });

  it("tells DMs collapsed into the main session apart by their sender", () => {
    expect(identify({ sessionKey: "agent:main:main", senderId: "222", channel: "telegram" }, config)).toEqual({
      userId: "telegram:222",
      agentId: "main",
      source: "sender",
    });
  });

  it("links an HTTP user to a chat identity", () => {
    const linked = { ...config, identityLinks: { alice: ["alice@example.com", "telegram:111"] } };
    expect(identify({ sessionKey: "agent:main:openai-user:alice@example.com" }, linked).userId).toBe("alice");
  });
});
