import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/processes";

// No Docker engine on these machines (see compose.test.ts): the Dockerfile's
// promises are checked by reading it. Multi-stage, the runtime stage holds the
// build's output and production dependencies only, runs unprivileged, and
// says how to probe it.
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function stagesOf(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, " ") // continuation lines
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (op.toUpperCase() === "FROM") {
      const [from = "", as, name] = rest;
      stages.push({ from, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = stagesOf(readFileSync(`${REPO_ROOT}/Dockerfile`, "utf8"));
const runtime = stages.at(-1) as Stage;
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);

describe("Dockerfile", () => {
  it("builds in one stage (`pnpm build`) and runs from another on the same pinned Node", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages.find((s) => ops(s, "RUN").some((run) => /pnpm build/.test(run)));
    expect(build?.name).toBeDefined();
    expect(build).not.toBe(runtime);
    for (const stage of stages) expect(stage.from).toMatch(/^node:20[\w.-]*$/);
  });

  it("installs production dependencies only, from the lockfile, without chDB's dependents", () => {
    const installs = stages.flatMap((s) => ops(s, "RUN")).filter((run) => /pnpm install --prod/.test(run));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/--frozen-lockfile/);
    // Embedded mode (the one chDB dependent that ships) is not selected.
    expect(installs[0]).not.toMatch(/embedded|"\.\/services\/\*"/);
    // The runtime stage installs nothing itself: it copies the pruned node_modules and the bundles.
    expect(ops(runtime, "RUN").join(" ")).not.toMatch(/install/);
    const copies = ops(runtime, "COPY");
    expect(copies.every((copy) => copy.startsWith("--from="))).toBe(true);
    expect(copies.some((copy) => / \/app\/dist /.test(copy))).toBe(true);
    expect(copies.some((copy) => / \/app\/node_modules /.test(copy))).toBe(true);
  });

  it("runs as a user other than root, a built entry with plain node, and probes /livez", () => {
    const user = ops(runtime, "USER").at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const [healthcheck] = ops(runtime, "HEALTHCHECK");
    expect(healthcheck).toMatch(/\/livez/);
    const [cmd] = ops(runtime, "CMD");
    expect(cmd).toMatch(/node [^"]*dist\/\$\{SERVICE/);
    expect(cmd).not.toMatch(/tsx/);
  });

  it("is what docker-compose.yml runs: services pick SERVICE, the migrator its bundle", () => {
    // `<<: *service` gives them `build`: YAML 1.1 merge keys, as compose reads them.
    const compose = parse(readFileSync(`${REPO_ROOT}/docker-compose.yml`, "utf8"), { merge: true }) as {
      services: Record<string, { build?: unknown; command?: string[]; environment?: Record<string, string> }>;
    };
    const built = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual(
      ["aggregator", "enforcement", "ingest", "migrate", "reports", "sink"].sort(),
    );
    for (const [name, service] of built) {
      if (name === "migrate") expect(service.command).toEqual(["node", "dist/migrate/index.js"]);
      else expect(service.command ?? service.environment?.SERVICE).toBe(name);
    }
  });
});
