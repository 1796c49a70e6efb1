import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, type RunningProcess, startTs } from "../support/processes";

/**
 * The README's shell examples, run as a newcomer pastes them: against
 * `pnpm start`'s embedded mode on its default ports, from a folder whose
 * `.tollgate/data` is the instance's data directory, one shell for all of
 * them in order (later examples use the `$KEY` the first one sets). Each
 * `# …` comment under a command is the output it shows; "…" stands for
 * anything. Blocks that deploy rather than use the product (distributed
 * bring-up, docker compose) are named below and covered by the distributed
 * suites instead.
 */
const DEPLOYMENT_BLOCKS = [/infra\/local\/up\.sh/, /docker compose/];

interface Example {
  line: number;
  script: string;
  /** The outputs the README shows, in order, as patterns. */
  shows: RegExp[];
}

function readmeExamples(): Example[] {
  const lines = readFileSync(join(REPO_ROOT, "README.md"), "utf8").split("\n");
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```sh") continue;
    const start = i + 1;
    const body: string[] = [];
    for (i = start; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] as string);
    const script = body.join("\n");
    if (DEPLOYMENT_BLOCKS.some((pattern) => pattern.test(script))) continue;
    examples.push({ line: start, script, shows: shownOutputs(body) });
  }
  return examples;
}

/** `# {…}` lines (with `#   ` continuation lines) after a command: what it prints. */
function shownOutputs(body: string[]): RegExp[] {
  const shows: string[] = [];
  for (const line of body) {
    const comment = /^#\s?(.*)$/.exec(line);
    if (!comment) continue;
    const text = comment[1] as string;
    if (/^\s{2,}/.test(text) && shows.length > 0) shows[shows.length - 1] += text.trim();
    else if (/^[{[]/.test(text)) shows.push(text.trim());
  }
  return shows.map(
    (text) =>
      new RegExp(
        text
          .split("…")
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
          .join(".*"),
      ),
  );
}

describe("README examples", () => {
  const home = mkdtempSync(join(tmpdir(), "tollgate-readme-"));
  const dataDir = join(home, ".tollgate", "data");
  let proc: RunningProcess | undefined;

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    // No TOLLGATE_ADMIN_KEY: as on a fresh machine, the key is generated into the data directory.
    proc = startTs(
      "services/embedded/src/index.ts",
      { TOLLGATE_DATA_DIR: dataDir, LOG_LEVEL: "warn" },
      "embedded (README)",
      ["TOLLGATE_ADMIN_KEY", "INGEST_PORT", "ENFORCEMENT_PORT", "REPORTS_PORT"],
    );
    await proc.waitForOutput(/admin key/, 60_000);
  });
  afterAll(async () => {
    await proc?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("runs every example as shown, in order, and prints what the README says it prints", () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThanOrEqual(4);
    // One shell for all, so a variable set by one example is there for the next; markers split the output.
    const script = examples.map((e, i) => `${e.script}\necho; echo "@@example ${i} done@@"`).join("\n");
    const run = spawnSync("bash", ["-e", "-o", "pipefail", "-c", script], {
      cwd: home,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const outputs = run.stdout.split(/@@example \d+ done@@/);
    examples.forEach((example, i) => {
      const printed = (outputs[i] ?? "").replace(/\s*\n\s*/g, "");
      let from = 0;
      for (const shown of example.shows) {
        const match = shown.exec(printed.slice(from));
        expect(match, `README line ${example.line}: printed ${printed}, shown ${shown}`).not.toBeNull();
        from += (match?.index ?? 0) + (match?.[0].length ?? 0);
      }
    });
  });
});
