/**
 * What `guard()` costs an agent, side by side in the same run against the
 * same embedded Tollgate:
 *   guard        tollgate.guard(request, noop): the reserving check, the
 *                no-op call, the usage report queued (sent in batches in the
 *                background, as in production)
 *   bare fetch   one fetch POST /v1/check with reserve: true, the JSON read —
 *                the least an agent asking before each call can do
 *   guard, reports elsewhere  the same guard, its reports sent to a local
 *                server that answers 202 at once: the SDK's own cost, without
 *                the server's work of storing and counting the reports (on
 *                this machine's two cores, beside the check it times)
 * Calls run one after another (an agent's loop), in alternating rounds so
 * both see the same machine. Prints calls/s, p50/p99 and the ratio of mean
 * latencies (goal ≤ 1.1).
 *
 *   pnpm bench:sdk [--calls 3000] [--rounds 6]
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createTollgate } from "@tollgate/sdk";
import { runId } from "../../test/support/engines";
import { call } from "../../test/support/http";
import { startStack } from "../../test/support/stack";

const { values: args } = parseArgs({
  options: { calls: { type: "string", default: "3000" }, rounds: { type: "string", default: "6" } },
});
const CALLS = Number(args.calls);
const ROUNDS = Number(args.rounds);

const stack = await startStack("embedded");
try {
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
  const tollgate = createTollgate({
    checkUrl: stack.enforcementUrl,
    ingestUrl: stack.ingestUrl,
    apiKey: agentKey,
    subject: { orgId: org, projectId: "bench", agentId: "bench-agent", userId: "bench-user" },
    logger: { warn: (message, details) => console.warn(message, details ?? "") },
  });
  // Reports to a server that takes them and does nothing: the third variant.
  const sink = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(202, { "content-type": "application/json" });
      res.end('{"accepted":0,"rejected":[]}');
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  const elsewhere = createTollgate({
    checkUrl: stack.enforcementUrl,
    ingestUrl: sinkUrl,
    apiKey: agentKey,
    subject: { orgId: org, projectId: "bench", agentId: "bench-agent", userId: "bench-user" },
  });
  const request = { model: "gpt-4o", inputTokens: 500, maxOutputTokens: 200 };
  const usage = { usage: { input_tokens: 500, output_tokens: 120 } };
  const body = JSON.stringify({
    org_id: org,
    project_id: "bench",
    agent_id: "bench-agent",
    user_id: "bench-user",
    model: "gpt-4o",
    input_tokens: 500,
    max_output_tokens: 200,
    reserve: true,
  });
  const headers = { authorization: `Bearer ${agentKey}`, "content-type": "application/json" };

  const variants = {
    guard: () => tollgate.guard(request, async () => usage),
    "guard, reports elsewhere": () => elsewhere.guard(request, async () => usage),
    "bare fetch": async () => {
      const reply = await fetch(`${stack.enforcementUrl}/v1/check`, { method: "POST", headers, body });
      await reply.json();
    },
  };
  const samples: Record<keyof typeof variants, number[]> = {
    guard: [],
    "guard, reports elsewhere": [],
    "bare fetch": [],
  };
  // Warm both paths (JIT, connections) before measuring.
  for (const run of Object.values(variants)) for (let i = 0; i < 300; i++) await run();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(variants) as Array<[keyof typeof variants, () => Promise<unknown>]>) {
      for (let i = 0; i < CALLS / ROUNDS; i++) {
        const start = performance.now();
        await run();
        samples[name].push(performance.now() - start);
      }
    }
  }
  await tollgate.shutdown();
  await elsewhere.shutdown();
  sink.close();

  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    return { mean, perSecond: Math.round(1000 / mean), p50: at(0.5), p99: at(0.99) };
  };
  const guard = stats(samples.guard);
  const own = stats(samples["guard, reports elsewhere"]);
  const bare = stats(samples["bare fetch"]);
  console.log(`${CALLS} calls each, one at a time, in ${ROUNDS} alternating rounds`);
  console.log("");
  console.log("| variant | calls/s | mean ms | p50 ms | p99 ms |");
  console.log("|---|---|---|---|---|");
  for (const [name, s] of [
    ["guard", guard],
    ["guard, reports elsewhere", own],
    ["bare fetch", bare],
  ] as const) {
    console.log(`| ${name} | ${s.perSecond} | ${s.mean.toFixed(3)} | ${s.p50.toFixed(3)} | ${s.p99.toFixed(3)} |`);
  }
  console.log("");
  console.log(
    `guard ÷ bare fetch, mean latency: ${(guard.mean / bare.mean).toFixed(2)} (goal ≤ 1.1); at the median: ${(guard.p50 / bare.p50).toFixed(2)}`,
  );
  console.log(
    `guard with its reports elsewhere ÷ bare fetch: ${(own.mean / bare.mean).toFixed(2)} (the SDK's own cost)`,
  );
} finally {
  await stack.stop();
}
