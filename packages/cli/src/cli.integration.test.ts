// The CLI as a script runs it: a child process (the TypeScript entry through
// tsx, so never a stale build; one test runs a fresh bundle) against embedded
// Tollgate, asserting exit codes, output and what the API holds afterwards.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../../../test/support/engines";
import { freePort } from "../../../test/support/processes";
import { type Stack, startStack } from "../../../test/support/stack";

const ENTRY = fileURLToPath(new URL("./main.ts", import.meta.url));
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let stack: Stack;
let dir: string;

function tollgate(
  args: string[],
  env: Record<string, string | undefined> = {},
  command = [process.execPath, "--import", "tsx", ENTRY],
) {
  return new Promise<Run>((resolve) => {
    const [file = "", ...before] = command;
    execFile(
      file,
      [...before, ...args],
      {
        env: { PATH: process.env.PATH, TOLLGATE_URL: stack.enforcementUrl, TOLLGATE_KEY: stack.adminKey, ...env },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

function file(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

async function api<T>(method: string, path: string, key = stack.adminKey, body?: unknown): Promise<T> {
  const res = await fetch(`${stack.enforcementUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return res.json() as Promise<T>;
}

interface Budget {
  id: string;
  version: number;
  limit: number;
  org_id: string | null;
}
const budgets = async (key = stack.adminKey) => (await api<{ budgets: Budget[] }>("GET", "/v1/budgets", key)).budgets;
const byId = (list: Budget[]) => Object.fromEntries(list.map((b) => [b.id, b]));

/** An org admin's key: its budgets are a tenant of their own, so the file speaks for that org only. */
async function orgAdmin(): Promise<{ key: string; org: string }> {
  const org = runId("org");
  const created = await api<{ key: string }>("POST", "/v1/keys", stack.adminKey, {
    role: "admin",
    name: "t",
    org_id: org,
  });
  return { key: created.key, org };
}

beforeAll(async () => {
  stack = await startStack("embedded");
  dir = mkdtempSync(join(tmpdir(), "tollgate-cli-"));
});
afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("budgets apply", () => {
  it("creates, is a no-op the second time, dry-runs without changing, prunes only what the file dropped", async () => {
    const { key, org } = await orgAdmin();
    // A budget outside the org: no apply of the org's file may see or touch it.
    const outside = runId("outside");
    await api("PUT", `/v1/budgets/${outside}`, stack.adminKey, {
      scope: { type: "user", id: outside },
      metric: "tokens",
      window: { type: "lifetime" },
      limit: 5,
    });
    const v1 = file(
      "v1.yaml",
      `daily-tokens:
  scope: { type: user, id: "*" }
  metric: tokens
  window: { type: calendar, unit: day, timezone: Europe/Berlin }
  limit: 100000
  soft_limit_pct: 80
  alert_thresholds_pct: [90, 50]
team-cost:
  scope: { type: team, id: research }
  metric: cost_usd
  window: { type: calendar, unit: month }
  limit_usd: "50.00"
  action: warn
`,
    );
    const env = { TOLLGATE_KEY: key };
    const created = await tollgate(["budgets", "apply", "-f", v1], env);
    expect(created, created.stderr).toMatchObject({ code: 0 });
    expect(created.stdout).toContain("+ create daily-tokens");
    expect(created.stdout).toContain("+ create team-cost");
    const first = byId(await budgets(key));
    expect(Object.keys(first).sort()).toEqual(["daily-tokens", "team-cost"]);
    expect(first["team-cost"]).toMatchObject({ limit: 50_000_000, org_id: org });

    // Defaults, limit_usd and unsorted thresholds normalise as the server does: nothing to change.
    const again = await tollgate(["budgets", "apply", "-f", v1], env);
    expect(again, again.stderr).toMatchObject({ code: 0 });
    expect(again.stdout).toContain("= unchanged daily-tokens");
    expect(again.stdout).toContain("no changes");
    expect(byId(await budgets(key))).toEqual(first);

    // v2 drops team-cost, changes daily-tokens and adds one.
    const v2 = file(
      "v2.yaml",
      `- id: daily-tokens
  scope: { type: user, id: "*" }
  metric: tokens
  window: { type: calendar, unit: day, timezone: Europe/Berlin }
  limit: 200000
  alert_thresholds_pct: [50, 90]
- id: agent-requests
  scope: { type: agent, id: "*" }
  metric: requests
  window: { type: rolling, seconds: 3600 }
  limit: 100
`,
    );
    const dry = await tollgate(["budgets", "apply", "-f", v2, "--dry-run", "--prune"], env);
    expect(dry, dry.stderr).toMatchObject({ code: 0 });
    expect(dry.stdout).toContain("~ update daily-tokens");
    expect(dry.stdout).toContain("limit: 100000 → 200000");
    // Removed from the file: the PUT resets it, so the diff says so.
    expect(dry.stdout).toContain("soft_limit_pct: 80 → null");
    expect(dry.stdout).toContain("+ create agent-requests");
    expect(dry.stdout).toContain("- delete team-cost");
    expect(dry.stdout).toContain("dry run");
    expect(byId(await budgets(key))).toEqual(first);

    const kept = await tollgate(["budgets", "apply", "-f", v2], env);
    expect(kept, kept.stderr).toMatchObject({ code: 0 });
    expect(kept.stdout).toContain("? team-cost: not in the file, kept");
    const afterKept = byId(await budgets(key));
    expect(Object.keys(afterKept).sort()).toEqual(["agent-requests", "daily-tokens", "team-cost"]);
    expect(afterKept["daily-tokens"]?.limit).toBe(200_000);
    expect(afterKept["team-cost"]).toEqual(first["team-cost"]);

    const pruned = await tollgate(["budgets", "apply", "-f", v2, "--prune"], env);
    expect(pruned, pruned.stderr).toMatchObject({ code: 0 });
    expect(pruned.stdout).toContain("- delete team-cost");
    const afterPrune = byId(await budgets(key));
    expect(Object.keys(afterPrune).sort()).toEqual(["agent-requests", "daily-tokens"]);
    expect(afterPrune["daily-tokens"]).toEqual(afterKept["daily-tokens"]);
    expect(byId(await budgets())[outside]).toBeDefined();

    const settled = await tollgate(["budgets", "apply", "-f", v2, "--prune"], env);
    expect(settled.stdout).toContain("no changes");
    expect(byId(await budgets(key))).toEqual(afterPrune);
  });

  it("refuses an invalid field with exit 1, naming it, and applies nothing", async () => {
    const { key } = await orgAdmin();
    const bad = file(
      "bad.yaml",
      `good: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: 1 }
bad: { scope: { type: user, id: "*" }, metric: tokenz, window: { type: lifetime }, limit: 1 }
`,
    );
    const run = await tollgate(["budgets", "apply", "-f", bad], { TOLLGATE_KEY: key });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/bad\.metric: must be one of/);
    expect(await budgets(key)).toEqual([]);
  });

  it("prints the server's refusal with exit 1 (a viewer may not write)", async () => {
    const viewer = await api<{ key: string }>("POST", "/v1/keys", stack.adminKey, { role: "viewer", name: "v" });
    const one = file(
      "one.yaml",
      `x: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: 1 }`,
    );
    const run = await tollgate(["budgets", "apply", "-f", one], { TOLLGATE_KEY: viewer.key });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("POST /v1/budgets:batch: 403");
  });

  it("applies every change the server takes and names each one it refuses, with its field, exit 1", async () => {
    const { key, org } = await orgAdmin();
    // An id another org already uses: taken (409) for this org's admin, which cannot see it.
    const taken = runId("taken");
    await api("PUT", `/v1/budgets/${taken}`, stack.adminKey, {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "lifetime" },
      limit: 5,
      org_id: runId("elsewhere"),
    });
    const mixed = file(
      "mixed.yaml",
      `mine: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: 1 }
${taken}: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: 1 }
theirs: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: 1, org_id: other-org }
`,
    );
    const run = await tollgate(["budgets", "apply", "-f", mixed], { TOLLGATE_KEY: key });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toContain("applied 1 of 3 changes");
    expect(run.stderr).toContain("POST /v1/budgets:batch: 2 changes refused");
    expect(run.stderr).toContain(`create ${taken}: 409 conflict`);
    expect(run.stderr).toMatch(/create theirs: 403 forbidden\n\s+org_id: this admin key is bound to org/);
    expect((await budgets(key)).map((b) => [b.id, b.org_id])).toEqual([["mine", org]]);
  });

  it("sends a large file in requests of 1,000 changes", async () => {
    const { key } = await orgAdmin();
    const lines = Array.from(
      { length: 2_001 },
      (_, i) =>
        `b${i}: { scope: { type: user, id: "*" }, metric: tokens, window: { type: lifetime }, limit: ${i + 1} }`,
    );
    const big = file("big.yaml", `${lines.join("\n")}\n`);
    const run = await tollgate(["budgets", "apply", "-f", big], { TOLLGATE_KEY: key });
    expect(run, run.stderr).toMatchObject({ code: 0 });
    expect(run.stdout).toContain("2001 to create");
    const stored = await budgets(key);
    expect(stored).toHaveLength(2_001);
    expect(byId(stored).b2000?.limit).toBe(2_001);
    // One version per request (the bulk route writes a batch with one): three requests, not 2,001.
    expect(new Set(stored.map((b) => b.version)).size).toBe(3);

    // An empty file with --prune deletes them all, in batches too (and keeps the operator's listings small).
    const pruned = await tollgate(["budgets", "apply", "-f", file("empty.yaml", ""), "--prune"], { TOLLGATE_KEY: key });
    expect(pruned, pruned.stderr).toMatchObject({ code: 0 });
    expect(pruned.stdout).toContain("2001 to delete");
    expect(await budgets(key)).toEqual([]);
  }, 120_000);

  it("lists budgets as a table and as JSON", async () => {
    const table = await tollgate(["budgets", "list"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^id\s+org_id\s+scope\s+metric/);
    const json = await tollgate(["budgets", "list", "--json"]);
    expect(JSON.parse(json.stdout)).toEqual(await api("GET", "/v1/budgets"));
  });
});

describe("exit codes", () => {
  it("2 for a usage error: no key, an unknown flag or command", async () => {
    const noKey = await tollgate(["budgets", "list"], { TOLLGATE_KEY: undefined });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("no API key");
    expect((await tollgate(["budgets", "list", "--frobnicate"])).code).toBe(2);
    expect((await tollgate(["budgets", "frobnicate"])).code).toBe(2);
    expect((await tollgate(["budgets", "apply"])).code).toBe(2);
  });

  it("3 when Tollgate is unreachable", async () => {
    const run = await tollgate(["budgets", "list"], { TOLLGATE_URL: `http://127.0.0.1:${await freePort()}` });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("unreachable");
  });
});

describe("keys, usage, check", () => {
  it("creates, lists and revokes a key", async () => {
    const created = await tollgate([
      "keys",
      "create",
      "--role",
      "agent",
      "--name",
      "cli bot",
      "--bound",
      "project_id=p1",
      "--default",
      "user_id=u1",
    ]);
    expect(created, created.stderr).toMatchObject({ code: 0 });
    const key = JSON.parse(created.stdout) as { id: string; key: string; bound_tags: object; default_tags: object };
    expect(key).toMatchObject({ bound_tags: { project_id: "p1" }, default_tags: { user_id: "u1" } });
    expect(key.key).toBeTruthy();
    expect((await tollgate(["keys", "list"])).stdout).toContain(key.id);
    const listed = JSON.parse((await tollgate(["keys", "list", "--json"])).stdout) as { keys: Array<{ id: string }> };
    expect(listed.keys.map((k) => k.id)).toContain(key.id);

    const revoked = await tollgate(["keys", "revoke", key.id]);
    expect(revoked, revoked.stderr).toMatchObject({ code: 0, stdout: `revoked ${key.id}\n` });
    expect((await tollgate(["keys", "list"])).stdout).not.toContain(key.id);
    const twice = await tollgate(["keys", "revoke", key.id]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("404");
    expect((await tollgate(["keys", "create", "--role", "agent"])).code).toBe(2);
    expect((await tollgate(["keys", "create", "--role", "agent", "--name", "x", "--bound", "nope"])).code).toBe(2);
  });

  it("prints what /v1/usage and /v1/check answer", async () => {
    const user = runId("u");
    const res = await fetch(`${stack.ingestUrl}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        user_id: user,
        project_id: "p",
        agent_id: "a",
        model: "gpt-4o",
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      }),
    });
    expect(res.status).toBe(202);
    const usage = await tollgate(["usage", "--user", user]);
    expect(usage, usage.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(usage.stdout)).toEqual(await api("GET", `/v1/usage?user_id=${user}`));
    expect(JSON.parse(usage.stdout).totals.user.day.tokens).toBe(15);
    expect((await tollgate(["usage"])).code).toBe(2);

    const check = await tollgate(["check", "--user", user, "--model", "gpt-4o", "--input-tokens", "100"]);
    expect(check, check.stderr).toMatchObject({ code: 0 });
    const direct = await api<{ decision: string; reason: string }>("POST", "/v1/check", stack.adminKey, {
      user_id: user,
      model: "gpt-4o",
      input_tokens: 100,
    });
    expect(JSON.parse(check.stdout)).toMatchObject({ decision: direct.decision, reason: direct.reason });
    expect((await tollgate(["check", "--user", user, "--model", "gpt-4o", "--input-tokens", "many"])).code).toBe(2);
  });
});

describe("the published package", () => {
  it("installs with npm i -g from its tarball and runs with plain node", async () => {
    // The bin as a shell runs it (shebang and all). pnpm pack runs prepack (the bundle, built fresh) and applies publishConfig, as publishing does.
    const packed = join(dir, "packed");
    execFileSync("pnpm", ["pack", "--pack-destination", packed], { cwd: PACKAGE, stdio: "pipe" });
    const [tarball] = readdirSync(packed);
    const prefix = join(dir, "global");
    execFileSync("npm", ["i", "-g", "--offline", "--prefix", prefix, join(packed, tarball ?? "")], { stdio: "pipe" });
    const run = await tollgate(["budgets", "list", "--json"], {}, [join(prefix, "bin", "tollgate")]);
    expect(run, run.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(run.stdout)).toHaveProperty("budgets");
  }, 120_000);
});
