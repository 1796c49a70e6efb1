// Bundles the plugin into dist/index.js, one ESM file with the SDK core in
// it: the gateway (Node 24) loads plain JavaScript from the plugin folder and
// installs nothing, while @tollgate/sdk's workspace exports point at
// TypeScript. Run by infra/build.ts (so `pnpm build` and the test command
// make it) and by the e2e test; `node --import tsx build.ts` alone works too.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const DIR = fileURLToPath(new URL(".", import.meta.url));

export async function buildOpenClawPlugin(): Promise<string> {
  const outfile = join(DIR, "dist", "index.js");
  rmSync(join(DIR, "dist"), { recursive: true, force: true });
  await build({
    entryPoints: [join(DIR, "src", "index.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`built ${await buildOpenClawPlugin()}`);
}
