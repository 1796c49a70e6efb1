/**
 * What the OpenClaw plugin adds to a turn: the same gateway (openclaw
 * 2026.9.6, the fake provider of test/support/openclaw.ts) without the
 * plugin and with it (checking against embedded Tollgate), one after the
 * other, each warmed up with 3 turns, then N turns over the HTTP API, one at
 * a time. Prints the gateway start times and p50/p99 per turn, and the ratio.
 *
 *   pnpm bench:openclaw [--turns 50]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildOpenClawPlugin } from "../../integrations/openclaw/build";
import { call } from "../../test/support/http";
import { chatTurn, ensureOpenClaw, startFakeProvider, startGateway } from "../../test/support/openclaw";
import { REPO_ROOT } from "../../test/support/processes";
import { startStack } from "../../test/support/stack";

const { values: args } = parseArgs({ options: { turns: { type: "string", default: "50" } } });
const turns = Number(args.turns);
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;

ensureOpenClaw();
await buildOpenClawPlugin();
const tollgate = await startStack("embedded");
const adminKey = tollgate.adminKey;
const enforcement = tollgate.enforcementUrl;
const key = await call("POST", `${enforcement}/v1/keys`, {
  key: adminKey,
  json: { role: "agent", name: "bench", default_tags: { org_id: "bench" } },
});
// A budget that matches every turn and never stops one: the check does its full work.
await call("PUT", `${enforcement}/v1/budgets/bench-daily`, {
  key: adminKey,
  json: {
    org_id: "bench",
    scope: { type: "user", id: "*" },
    metric: "tokens",
    window: { type: "calendar", unit: "day" },
    limit: 1_000_000_000,
  },
});
const provider = await startFakeProvider();

async function measure(withPlugin: boolean) {
  const runDir = mkdtempSync(join(tmpdir(), "openclaw-bench-"));
  const gateway = await startGateway({
    runDir,
    providerUrl: provider.url,
    ...(withPlugin && {
      pluginDir: join(REPO_ROOT, "integrations", "openclaw"),
      pluginConfig: {
        url: enforcement,
        ingestUrl: tollgate.ingestUrl,
        apiKey: key.body.key,
        orgId: "bench",
      },
    }),
  });
  try {
    for (let i = 0; i < 3; i++) await chatTurn(gateway, "warmup", `warm ${i}`);
    const times: number[] = [];
    for (let i = 0; i < turns; i++) {
      const reply = await chatTurn(gateway, `user-${i % 5}`, `turn ${i}`);
      if (reply.status !== 200) throw new Error(`turn ${i}: ${reply.status} ${reply.body}`);
      times.push(reply.ms);
    }
    times.sort((a, b) => a - b);
    return { startMs: gateway.startMs, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
  } finally {
    await gateway.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

try {
  const without = await measure(false);
  const withPlugin = await measure(true);
  const f = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(`turns: ${turns} per gateway, one at a time, HTTP API`);
  console.log(`without plugin  start ${f(without.startMs)}  p50 ${f(without.p50)}  p99 ${f(without.p99)}`);
  console.log(`with plugin     start ${f(withPlugin.startMs)}  p50 ${f(withPlugin.p50)}  p99 ${f(withPlugin.p99)}`);
  console.log(
    `ratio with/without: p50 ${(withPlugin.p50 / without.p50).toFixed(2)}  p99 ${(withPlugin.p99 / without.p99).toFixed(2)}`,
  );
} finally {
  await provider.close();
  await tollgate.stop();
}
