import { spawn } from "node:child_process";
import { once } from "node:events";
import { Agent, request } from "node:http";
import { text } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { percentile } from "../ingest/table";

export interface PacedResult {
  p50: number;
  p99: number;
  /** Requests per second actually sent (the schedule is kept unless the generator itself falls behind). */
  sentPerSecond: number;
  failed: number;
}

/**
 * Latency at a fixed request rate, open loop: requests leave on a schedule
 * (every 1/rate s, a millisecond timer sending whatever is due) whether or
 * not earlier ones were answered, over at most `connections` keep-alive
 * sockets; a request waiting for a socket waits on the clock. autocannon's
 * `overallRate` instead lets each connection send its share of a second
 * back to back and then idle, so its "fixed rate" arrives in bursts at full
 * concurrency each second, and its coordinated-omission correction takes
 * the interval as Math.ceil(1 / rate) = 1 ms, padding the tail of every
 * answer slower than that: a server's tail at 2,000 req/s is read here.
 */
export interface PacedOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  rate: number;
  seconds: number;
  /** Sent on the same schedule first and not recorded: sockets opened, JIT and heap at this rate. */
  warmupSeconds: number;
  connections: number;
}

/**
 * Runs the paced load in a process of its own: the bench process has just
 * run autocannon at full load, and its heap and timers would stall the
 * schedule (its event loop showed pauses of up to 13 ms), which reads as
 * server latency.
 */
export async function pacedLatency(options: PacedOptions): Promise<PacedResult> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stdin.end(JSON.stringify(options));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`paced load generator exited with ${code}`);
  return JSON.parse(out) as PacedResult;
}

async function pacedLatencyHere(options: PacedOptions): Promise<PacedResult> {
  const url = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const headers = { ...options.headers, "content-length": String(Buffer.byteLength(options.body)) };
  const latencies: number[] = [];
  let failed = 0;
  const send = (recorded: boolean) =>
    new Promise<void>((resolve) => {
      const startedMs = performance.now();
      const req = request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers },
        (res) => {
          res.resume();
          res.on("end", () => {
            const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
            if (!ok) failed++;
            else if (recorded) latencies.push(performance.now() - startedMs);
            resolve();
          });
        },
      );
      req.on("error", () => {
        failed++;
        resolve();
      });
      req.end(options.body);
    });

  const warmup = Math.round(options.rate * options.warmupSeconds);
  const total = warmup + Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const inFlight: Array<Promise<void>> = [];
  const startedMs = performance.now();
  let measuredFromMs = startedMs;
  let sent = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - startedMs) / intervalMs) + 1);
      for (; sent < due; sent++) {
        if (sent === warmup) measuredFromMs = performance.now();
        inFlight.push(send(sent >= warmup));
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  const sendingMs = performance.now() - measuredFromMs;
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    sentPerSecond: (total - warmup) / (sendingMs / 1000),
    failed,
  };
}

// As the child process: options on stdin, the result on stdout.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(await text(process.stdin)) as PacedOptions;
  process.stdout.write(JSON.stringify(await pacedLatencyHere(options)));
}
