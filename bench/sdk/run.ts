/**
 * What `guard()` costs an agent, side by side in the same run against the
 * same embedded Tollgate:
 *   guard         tollgate.guard(request, noop): the reserving check, the
 *                 no-op call, the usage report queued (sent in batches in the
 *                 background, as in production)
 *   by hand       the same job without the SDK: a fetch POST /v1/check with
 *                 reserve: true, then the usage report, batched by hand
 *                 (500 per POST /v1/events, sent in the background)
 *   guard, reports elsewhere  the same guard, its reports sent to a local
 *                 server that answers 202 at once: the SDK's own cost,
 *                 without Tollgate's work of storing and counting reports
 *   bare fetch    one fetch POST /v1/check with reserve: true, the JSON read —
 *                 the least an agent asking before each call can do
 * Calls run one after another (an agent's loop), in rounds that take turns
 * so all see the same machine; a round ends when its reports are sent (that
 * wait counts). Prints calls/s, mean, p50, p99, Tollgate's CPU per call and
 * the median of the rounds' ratios of mean time per call (goal ≤ 1.1).
 *
 *   pnpm bench:sdk [--calls 10000] [--rounds 10]
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createTollgate } from "@tollgate/sdk";
import { runId } from "../../test/support/engines";
import { call } from "../../test/support/http";
import { startStack } from "../../test/support/stack";
import { median, percentile } from "../ingest/table";

const { values: args } = parseArgs({
  options: { calls: { type: "string", default: "10000" }, rounds: { type: "string", default: "10" } },
});
const CALLS = Number(args.calls);
const ROUNDS = Number(args.rounds);
const HAND_BATCH = 500;

const stack = await startStack("embedded");
try {
  const tollgatePid = stack.processes()[0]?.child.pid;
  const org = runId("org_bench_sdk_");
  const made = await call("POST", `${stack.enforcementUrl}/v1/keys`, {
    key: stack.adminKey,
    json: { role: "agent", name: "bench-sdk", default_tags: { org_id: org } },
  });
  const agentKey = made.body.key as string;
  // A budget every call is checked and held against (never reached).
  await call("PUT", `${stack.enforcementUrl}/v1/budgets/${org}-users`, {
    key: stack.adminKey,
    json: {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1e12,
      org_id: org,
    },
  });
  const subject = { orgId: org, projectId: "bench", agentId: "bench-agent", userId: "bench-user" };
  const tollgate = createTollgate({
    checkUrl: stack.enforcementUrl,
    ingestUrl: stack.ingestUrl,
    apiKey: agentKey,
    subject,
    logger: { warn: (message, details) => console.warn(message, details ?? "") },
  });
  // Reports to a server that takes them and does nothing: the SDK's own cost.
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(202, { "content-type": "application/json" });
      res.end('{"accepted":0,"rejected":[]}');
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const elsewhere = createTollgate({ checkUrl: stack.enforcementUrl, ingestUrl: sinkUrl, apiKey: agentKey, subject });

  const request = { model: "gpt-4o", inputTokens: 500, maxOutputTokens: 200 };
  const usage = { usage: { input_tokens: 500, output_tokens: 120 } };
  const tags = { org_id: org, project_id: "bench", agent_id: "bench-agent", user_id: "bench-user" };
  const body = JSON.stringify({ ...tags, model: "gpt-4o", input_tokens: 500, max_output_tokens: 200, reserve: true });
  const headers = { authorization: `Bearer ${agentKey}`, "content-type": "application/json" };
  const check = async () => {
    const reply = await fetch(`${stack.enforcementUrl}/v1/check`, { method: "POST", headers, body });
    return (await reply.json()) as { reservation_id?: string };
  };
  // The hand-written reporter: events queued, POSTed 500 at a time without waiting for the answer.
  let handQueue: unknown[] = [];
  let handSending: Promise<unknown> = Promise.resolve();
  const handSend = () => {
    const events = handQueue;
    handQueue = [];
    const sent = fetch(`${stack.ingestUrl}/v1/events`, { method: "POST", headers, body: JSON.stringify({ events }) });
    handSending = Promise.all([handSending, sent.then((reply) => reply.text())]);
  };

  // Each variant: one call, and what must be done before its round counts as over (its reports sent).
  const variants = {
    guard: { run: () => tollgate.guard(request, async () => usage), finish: () => tollgate.flush() },
    "by hand": {
      run: async () => {
        const decision = await check();
        handQueue.push({
          event_id: crypto.randomUUID(),
          timestamp: new Date().toISOString(),
          ...tags,
          model: "gpt-4o",
          usage: usage.usage,
          reservation_id: decision.reservation_id,
          status: "ok",
        });
        if (handQueue.length >= HAND_BATCH) handSend();
      },
      finish: async () => {
        if (handQueue.length > 0) handSend();
        await handSending;
      },
    },
    "guard, reports elsewhere": {
      run: () => elsewhere.guard(request, async () => usage),
      finish: () => elsewhere.flush(),
    },
    "bare fetch": { run: check, finish: async () => {} },
  };
  type Name = keyof typeof variants;
  const names = Object.keys(variants) as Name[];
  const byName = <T>(make: (name: Name) => T) =>
    Object.fromEntries(names.map((name) => [name, make(name)])) as Record<Name, T>;
  const samples = byName<number[]>(() => []);
  /** Each round's time per call, the sending of its last reports included. */
  const roundMeans = byName<number[]>(() => []);
  /** Tollgate's CPU time in each variant's rounds (ms, every thread of its process). */
  const serverCpu = byName(() => 0);

  // Warm every path (JIT, connections) before measuring.
  for (const { run, finish } of Object.values(variants)) {
    for (let i = 0; i < 300; i++) await run();
    await finish();
  }
  const perRound = Math.round(CALLS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    // Every other round in reverse, so no variant always follows the same one (and its merges).
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const { run, finish } = variants[name];
      const cpuBefore = processCpuMs(tollgatePid);
      const roundStart = performance.now();
      for (let i = 0; i < perRound; i++) {
        const start = performance.now();
        await run();
        samples[name].push(performance.now() - start);
      }
      // The reports still queued are this variant's work: sent now, within its time, so Tollgate's
      // storing of them does not land in the next variant's round.
      await finish();
      roundMeans[name].push((performance.now() - roundStart) / perRound);
      serverCpu[name] += processCpuMs(tollgatePid) - cpuBefore;
    }
  }
  await tollgate.shutdown();
  await elsewhere.shutdown();
  sink.close();

  const stats = (name: Name) => {
    const sorted = [...samples[name]].sort((a, b) => a - b);
    const mean = roundMeans[name].reduce((sum, m) => sum + m, 0) / ROUNDS;
    return {
      mean,
      perSecond: Math.round(1000 / mean),
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      cpu: serverCpu[name] / (perRound * ROUNDS),
    };
  };
  const s = byName(stats);
  console.log(`${perRound * ROUNDS} calls each, one at a time, in ${ROUNDS} rounds`);
  console.log("");
  console.log("| variant | calls/s | mean ms | p50 ms | p99 ms | Tollgate CPU ms per call |");
  console.log("|---|---|---|---|---|---|");
  for (const name of names) {
    const v = s[name];
    console.log(
      `| ${name} | ${v.perSecond} | ${v.mean.toFixed(3)} | ${v.p50.toFixed(3)} | ${v.p99.toFixed(3)} | ${v.cpu.toFixed(3)} |`,
    );
  }
  // The machine drifts between rounds by more than the differences looked for: each round's ratio of
  // mean times, and their median.
  const ratio = (a: Name, b: Name) => {
    const rounds = roundMeans[a].map((m, i) => m / (roundMeans[b][i] as number));
    const low = Math.min(...rounds).toFixed(2);
    const high = Math.max(...rounds).toFixed(2);
    return `${median(rounds).toFixed(2)} (rounds ${low}–${high}; p50 ${(s[a].p50 / s[b].p50).toFixed(2)})`;
  };
  console.log("");
  console.log(`guard ÷ by hand, the same job:             ${ratio("guard", "by hand")}, goal ≤ 1.1`);
  console.log(
    `guard, reports elsewhere ÷ bare fetch:     ${ratio("guard, reports elsewhere", "bare fetch")}, goal ≤ 1.1`,
  );
  console.log(`guard ÷ bare fetch, reports stored beside: ${ratio("guard", "bare fetch")}`);
} finally {
  await stack.stop();
}

/** CPU time of a process, every thread (utime + stime of /proc/<pid>/stat, in ms). */
function processCpuMs(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
