import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string;
  /** Resolves with the first match of `pattern` in the output, or rejects at the deadline. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM (graceful) or SIGKILL; resolves with the exit code once it exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the process ends by itself. */
  exited(): Promise<number | null>;
}

/** Starts a TypeScript entry file of the repo as its own Node process (as in production, via tsx). */
export function startTs(
  entry: string,
  env: Record<string, string>,
  name = entry,
  unset: string[] = [],
): RunningProcess {
  const inherited = { ...process.env };
  for (const variable of unset) delete inherited[variable];
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(child, name);
}

/**
 * Starts a built entry (`dist/<name>/index.js`, made by `pnpm build`) with
 * plain node, as the container does: no tsx, no loader from NODE_OPTIONS.
 */
export function startBuilt(name: string, env: Record<string, string>): RunningProcess {
  const { NODE_OPTIONS: _loaders, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--enable-source-maps", `dist/${name}/index.js`], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(child, name);
}

export function startBinary(path: string, args: string[], name = path): RunningProcess {
  const child = spawn(path, args, { stdio: ["pipe", "pipe", "pipe"] });
  return track(child, name);
}

function track(child: ChildProcess, name: string): RunningProcess {
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = once(child, "exit").then(([code]) => code as number | null);

  return {
    child,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`${name}: no output matching ${pattern} within ${timeoutMs} ms. Output:\n${output.slice(-4000)}`),
          );
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`${name} exited before printing ${pattern}. Output:\n${output.slice(-4000)}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off("exit", onExit);
        };
        waiters.add(check);
        child.once("exit", onExit);
        check();
      });
    },
    exited: () => exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes; for conditions with no event to await. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until GET url/readyz answers 200. */
export function waitReady(baseUrl: string, timeoutMs = 60_000): Promise<true> {
  return eventually(
    async () => ((await fetch(`${baseUrl}/readyz`)).status === 200 ? true : undefined),
    `${baseUrl}/readyz`,
    timeoutMs,
  );
}

/** A TCP port free right now on 127.0.0.1, for a process that must keep its port across restarts. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts services/<name> as its own process (distributed mode) on a free
 * port of the loopback interface, and resolves once /readyz answers 200.
 */
export async function startService(
  name: string,
  env: Record<string, string>,
): Promise<{ proc: RunningProcess; url: string }> {
  const prefix = name.toUpperCase();
  const proc = startTs(
    `services/${name}/src/index.ts`,
    { ...env, [`${prefix}_PORT`]: "0", [`${prefix}_HOST`]: "127.0.0.1" },
    name,
  );
  const port = (await proc.waitForOutput(/"port":(\d+)/, 60_000))[1];
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url);
  return { proc, url };
}
