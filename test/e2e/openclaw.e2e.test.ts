import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOpenClawPlugin } from "../../integrations/openclaw/build";
import { runId } from "../support/engines";
import { call } from "../support/http";
import {
  chatTurn,
  cliTurn,
  ensureOpenClaw,
  FAIL_MARKER,
  type Gateway,
  startFakeProvider,
  startGateway,
} from "../support/openclaw";
import { eventually, REPO_ROOT } from "../support/processes";
import { type Stack, startStack } from "../support/stack";

/**
 * The OpenClaw plugin on the real gateway (openclaw 2026.9.6 on Node 24,
 * installed by the test into ~/.cache/tollgate), a fake
 * OpenAI-compatible provider and embedded Tollgate. One gateway for the
 * file (≈ 15 s to start, ≈ 1 GB): each case is a fresh end user.
 *
 * On the HTTP API a blocked turn is a bare 500 (OpenClaw drops the plugin's
 * message there), so a block is asserted by the 500 and by the provider not
 * being called; the message itself is unit-tested (hooks.test.ts).
 */

const USAGE = { prompt_tokens: 1_000, completion_tokens: 100 };
const TURN = USAGE.prompt_tokens + USAGE.completion_tokens;

/** A relay to enforcement that can stop answering (accept and hold), to see the plugin's timeout at work. */
async function startHangableRelay(targetPort: number) {
  let hang = false;
  const live = new Set<Socket>();
  const server: Server = createServer((client) => {
    live.add(client);
    client.on("close", () => live.delete(client));
    client.on("error", () => undefined);
    if (hang) return; // accepted, never answered
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    setHang(value: boolean) {
      hang = value;
      for (const socket of live) socket.destroy(); // keep-alive connections must not outlive the switch
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("OpenClaw plugin on the real gateway", () => {
  const runDir = mkdtempSync(join(tmpdir(), "openclaw-run-"));
  let adminKey = "";
  const org = runId("org_oc_");
  const user = (name: string) => `${name}-${runId("")}`;
  const owner = user("owner"); // the CLI's main session has no user of its own: the plugin's defaultUser
  let tollgate: Stack | undefined;
  let provider: Awaited<ReturnType<typeof startFakeProvider>>;
  let relay: Awaited<ReturnType<typeof startHangableRelay>>;
  let gateway: Gateway;
  let enforcement = "";
  const timeoutMs = 2_000;

  const usageOf = async (userId: string) => {
    const reply = await call("GET", `${enforcement}/v1/usage?user_id=${userId}&org_id=${org}`, { key: adminKey });
    expect(reply.status).toBe(200);
    return reply.body as {
      budgets: Array<{ id: string; used: number; reserved: number }>;
      totals: { user?: { day: { tokens: number; input_tokens: number; output_tokens: number; requests: number } } };
    };
  };
  /** Waits until the user's reported usage (settled by llm_output) reaches `tokens`. */
  const settled = async (userId: string, tokens: number) => {
    let last: unknown;
    try {
      return await eventually(async () => {
        const usage = await usageOf(userId);
        last = usage;
        return usage.totals.user?.day.tokens === tokens ? usage : undefined;
      }, `${userId}'s usage to reach ${tokens} tokens`);
    } catch (err) {
      throw new Error(
        `${String(err)}; last seen ${JSON.stringify(last)}\n${tollgate?.processes()[0]?.output().slice(-2000)}`,
      );
    }
  };

  beforeAll(async () => {
    ensureOpenClaw(); // first run: ~45 s of npm; then nothing
    const pluginBuilt = buildOpenClawPlugin();
    tollgate = await startStack("embedded");
    adminKey = tollgate.adminKey;
    enforcement = tollgate.enforcementUrl;
    const ports = { enforcement: Number(new URL(tollgate.enforcementUrl).port) };
    const agentKey = await call("POST", `${enforcement}/v1/keys`, {
      key: adminKey,
      json: { role: "agent", name: "openclaw", default_tags: { org_id: org } },
    });
    expect(agentKey.status).toBe(201);
    const budgets: Record<string, Record<string, unknown>> = {
      // Three turns a day each: the fourth check (3,300 used) is past 3,000.
      daily: {
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 3_000,
      },
      // The owner may not spend anything: the CLI shows the plugin's message.
      owner: {
        scope: { type: "user", id: owner },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1,
      },
      cheap: {
        scope: { type: "user", id: "carol" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1,
        action: "degrade",
        degrade: { model_map: { "fake-a": "fake-b" } },
      },
    };
    for (const [id, body] of Object.entries(budgets)) {
      const put = await call("PUT", `${enforcement}/v1/budgets/${org}-${id}`, {
        key: adminKey,
        json: { ...body, org_id: org },
      });
      expect(put.status).toBe(201);
    }
    relay = await startHangableRelay(ports.enforcement);
    provider = await startFakeProvider(USAGE);
    await pluginBuilt;
    gateway = await startGateway({
      runDir,
      pluginDir: join(REPO_ROOT, "integrations", "openclaw"),
      providerUrl: provider.url,
      pluginConfig: {
        checkUrl: relay.url,
        ingestUrl: tollgate.ingestUrl,
        apiKey: agentKey.body.key,
        orgId: org,
        projectId: "openclaw-e2e",
        defaultUser: owner,
        maxOutputTokens: 200,
        timeoutMs,
        failMode: "open",
      },
    });
    console.log(`openclaw gateway ready in ${gateway.startMs} ms`);
  }, 300_000);

  afterAll(async () => {
    await gateway?.stop();
    await provider?.close();
    await relay?.close();
    await tollgate?.stop();
    // KEEP_OPENCLAW_RUN=1 keeps the gateway's folder (config, logs/openclaw.log with the plugin's lines) to debug a run.
    if (!process.env.KEEP_OPENCLAW_RUN) rmSync(runDir, { recursive: true, force: true });
    else console.log(`kept ${runDir}`);
  });

  it("stops each user at their own daily limit while the other goes on, counting exactly the provider's usage", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const turn = async (who: string, n: number) => {
      const reply = await chatTurn(gateway, who, `hello ${n}`);
      expect(reply.status, reply.body).toBe(200);
      await settled(who, n * TURN);
    };
    for (const n of [1, 2, 3]) await turn(alice, n);
    await turn(bob, 1);

    const before = provider.calls.length;
    const blocked = await chatTurn(gateway, alice, "one more");
    expect(blocked.status).toBe(500); // the HTTP API's answer to a blocked turn (see the file's comment)
    expect(provider.calls.length).toBe(before); // never reached the model

    await turn(bob, 2);
    await turn(bob, 3);
    expect((await chatTurn(gateway, bob, "one more")).status).toBe(500);

    for (const who of [alice, bob]) {
      const usage = await usageOf(who);
      expect(usage.totals.user?.day).toMatchObject({
        tokens: 3 * TURN,
        input_tokens: 3 * USAGE.prompt_tokens,
        output_tokens: 3 * USAGE.completion_tokens,
        requests: 3,
      });
      // Every hold settled: nothing reserved once the turns are over.
      expect(usage.budgets.find((b) => b.id === `${org}-daily`)).toMatchObject({ used: 3 * TURN, reserved: 0 });
    }
  });

  it("shows a CLI user the plugin's message when the turn is blocked", async () => {
    const before = provider.calls.length;
    const { code, output } = await cliTurn(gateway, "hello from the terminal");
    expect(code, output).toBe(1);
    // What the user reads (quotes escaped in the --json output):
    // Your message could not be sent: Usage limit reached: 0 tokens of 1 tokens used (budget "…-owner"). It resets at … UTC. (blocked by tollgate)
    expect(output).toMatch(
      /could not be sent: Usage limit reached: 0 tokens of 1 tokens used \(budget \\?"org_oc_\w+-owner\\?"\)/,
    );
    expect(output).toMatch(/It resets at \d{4}-\d\d-\d\d 00:00 UTC\. \(blocked by tollgate\)/);
    expect(provider.calls.length).toBe(before);
  });

  it("sends a degraded user's turn to the cheaper model", async () => {
    const reply = await chatTurn(gateway, "carol", "summarise");
    expect(reply.status, reply.body).toBe(200);
    expect(provider.calls.at(-1)?.model).toBe("fake-b");
    await settled("carol", TURN);
  });

  it("leaves no hold when the turn fails after the gate", async () => {
    const dave = user("dave");
    const reply = await chatTurn(gateway, dave, `please ${FAIL_MARKER}`);
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(provider.calls.at(-1)?.prompt).toContain(FAIL_MARKER);
    await eventually(async () => {
      const line = (await usageOf(dave)).budgets.find((b) => b.id === `${org}-daily`);
      return line?.reserved === 0 ? line : undefined;
    }, "dave's hold to be released"); // well before the reservation TTL: the plugin released it
    expect((await usageOf(dave)).totals.user?.day.tokens ?? 0).toBe(0); // and nothing was charged
  });

  it("fails open within its timeout when Tollgate does not answer", async () => {
    const erin = user("erin");
    relay.setHang(true);
    try {
      const before = provider.calls.length;
      const reply = await chatTurn(gateway, erin, "anyone there?");
      expect(reply.status, reply.body).toBe(200);
      expect(provider.calls.length).toBe(before + 1);
      expect(reply.ms).toBeLessThan(timeoutMs + 5_000);
    } finally {
      relay.setHang(false);
    }
  });
});

/** A second gateway (started once the first has stopped): the plugin fail-closed, Tollgate not answering. */
describe("OpenClaw plugin, fail-closed", () => {
  const runDir = mkdtempSync(join(tmpdir(), "openclaw-closed-"));
  let provider: Awaited<ReturnType<typeof startFakeProvider>>;
  let silent: Server;
  const held = new Set<Socket>();
  let gateway: Gateway;
  const timeoutMs = 2_000;

  beforeAll(async () => {
    // Accepts connections and never answers: the check can only time out.
    silent = createServer((socket) => {
      held.add(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    provider = await startFakeProvider(USAGE);
    await buildOpenClawPlugin();
    gateway = await startGateway({
      runDir,
      pluginDir: join(REPO_ROOT, "integrations", "openclaw"),
      providerUrl: provider.url,
      pluginConfig: { url, apiKey: "tgk_unused", defaultUser: "owner", timeoutMs, failMode: "closed" },
    });
  }, 300_000);

  afterAll(async () => {
    await gateway?.stop();
    await provider?.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    rmSync(runDir, { recursive: true, force: true });
  });

  it("stops the turn within its timeout with a clear message", async () => {
    const { code, output } = await cliTurn(gateway, "hello");
    expect(code, output).toBe(1);
    expect(output).toContain("Usage limits cannot be checked right now, so this turn was stopped. Try again shortly.");
    expect(provider.calls).toHaveLength(0);
    // The message is the plugin's, so its own deadline ended the check: OpenClaw's 15 s hook timeout
    // would block with its own words. (No wall-clock bound: the CLI's start and the gateway's first
    // turn alone take from 9 s to over 20 s on 2 shared cores.)
  });
});
