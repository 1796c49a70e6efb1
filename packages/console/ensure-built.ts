// Builds the console's UI unless dist/ is newer than every source file:
// `pnpm start` runs it first (the console works right after `pnpm install`),
// and so does the console's end-to-end test. A fresh build takes ~10 s;
// an up-to-date one costs a directory walk.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

export function ensureConsoleBuilt(): void {
  const index = join(HERE, "dist", "index.html");
  const sources = Math.max(newestMtime(join(HERE, "ui")), newestMtime(join(HERE, "build.ts")));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(process.execPath, ["--import", "tsx", join(HERE, "build.ts")], { stdio: "inherit" });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) ensureConsoleBuilt();
