// Bundles the CLI into dist/tollgate.js, one ESM file that plain `node` runs
// (the published bin, publishConfig.bin): the workspace packages it uses
// (@tollgate/budgets' schema, whose `exports` point at TypeScript) and its
// third-party code (yaml, zod, luxon) are inside, so `npm i -g` installs
// nothing more. Run by infra/build.ts (`pnpm build`) and by the CLI's test.
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const DIR = fileURLToPath(new URL(".", import.meta.url));

export async function buildCli(outdir = join(DIR, "dist")): Promise<string> {
  const outfile = join(outdir, "tollgate.js");
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [join(DIR, "src", "main.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    // Bundled CommonJS (avsc, through @tollgate/events) calls require(): give the ESM bundle one.
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  chmodSync(outfile, 0o755);
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`built ${await buildCli()}`);
}
