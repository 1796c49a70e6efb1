import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

/**
 * A real browser for the console's end-to-end tests: Debian's chromium
 * (the test command installs it: infra/local/test-all.sh), driven by
 * playwright-core, which downloads no browser. The flags keep Chromium off
 * the network it cannot reach here (without them it stalls at start).
 */
export const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: \`apt-get install -y chromium\` (pnpm test does it) or set TOLLGATE_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Where the tests leave screenshots (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL("../../.tollgate/artifacts/console/", import.meta.url));

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/** The browser's globals the callbacks below use (this project has no DOM types). */
declare const window: { axe?: { run(context: unknown): Promise<{ violations: AxeViolation[] }> } };
declare const document: unknown;

/** axe-core on the page as it is: the serious and critical violations (WCAG 2.x A/AA and best practices). */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol, not added as a <script>: the page's CSP refuses inline script, rightly.
  if (!(await page.evaluate(() => window.axe !== undefined))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe?.run(document);
    if (!result) throw new Error("axe-core did not load");
    return result.violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
}
