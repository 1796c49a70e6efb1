// `pnpm build` (after `tsc`, which stays the typecheck): bundles each service
// entry and the migrator into dist/<name>/index.js, JavaScript that plain
// `node` runs without tsx:
//
//   dist/<name>/index.js (+ chunks, source maps)   one per services/* and infra/migrate.ts
//   dist/assets/                                   the files the code reads at run time
//   dist/package.json                              "type": "module", the third-party dependencies
//   dist/node_modules/<dependency>                 relative links into the pnpm store
//
// The workspace packages (@tollgate/*) are bundled: their `exports` point at
// TypeScript. Every third-party dependency a workspace package declares stays
// external and is loaded from node_modules as installed, so native code
// (chDB), the kafkajs patch and the OpenTelemetry require hooks behave as
// under tsx. Packages published on their own (@tollgate/sdk) are compiled by
// their tsconfig.build.json into their own dist/ (ESM + .d.ts) as well, and
// each integration (integrations/*) or package with a build.ts by that script —
// the OpenClaw plugin and the CLI are each one self-contained JS file.
// Usage: node --import tsx infra/build.ts
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const workspaceDirs = ["packages", "services"].flatMap((group) =>
  readdirSync(join(ROOT, group))
    .map((name) => join(ROOT, group, name))
    .filter((dir) => existsSync(join(dir, "package.json"))),
);

/** Third-party dependency name → the workspace directories that declare it (to find it installed). */
function thirdPartyDependencies(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const dir of workspaceDirs) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
    for (const [name, spec] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      if (spec.startsWith("workspace:")) continue;
      found.set(name, [...(found.get(name) ?? []), dir]);
    }
  }
  return found;
}

const entries: Record<string, string> = Object.fromEntries([
  ...readdirSync(join(ROOT, "services"))
    .filter((name) => existsSync(join(ROOT, "services", name, "src", "index.ts")))
    .map((name) => [name, join(ROOT, "services", name, "src", "index.ts")]),
  ["migrate", join(ROOT, "infra", "migrate.ts")],
]);

/** The package a bare import names: `@scope/pkg/sub` → `@scope/pkg`, `pkg/sub` → `pkg`. */
function packageOf(path: string): string {
  const parts = path.split("/");
  return (path.startsWith("@") ? parts.slice(0, 2) : parts.slice(0, 1)).join("/");
}

async function main(): Promise<void> {
  const dependencies = thirdPartyDependencies();
  const external = [...dependencies.keys()].flatMap((name) => [name, `${name}/*`]);
  rmSync(DIST, { recursive: true, force: true });
  // First, so that dist/package.json stays the last thing written (test/e2e/build.e2e.test.ts dates the build by it).
  buildPublishedPackages();
  buildBundles();

  const used = new Set<string>();
  for (const [name, entry] of Object.entries(entries)) {
    const result = await build({
      entryPoints: { index: entry },
      outdir: join(DIST, name),
      bundle: true,
      // Splitting keeps each `await import("./main")` lazy, so telemetry
      // starts before the modules it instruments load, as from source.
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: true,
      external,
      // Where the code reads files at run time, it asks TOLLGATE_BUNDLED
      // whether they are in dist/assets (see packages/sql/src/migrate.ts).
      define: { TOLLGATE_BUNDLED: "true" },
      metafile: true,
      logLevel: "warning",
    });
    for (const path of externalImports(result.metafile)) used.add(packageOf(path));
    checkNothingThirdPartyBundled(name, result.metafile);
  }

  copyAssets();
  linkDependencies(used, dependencies);
  console.log(`built ${Object.keys(entries).join(", ")} into ${relative(ROOT, DIST)}/`);
}

/**
 * A package with a tsconfig.build.json is published as built JavaScript
 * (its `build` script runs the same tsc): compiled here too, so `pnpm build`
 * and the test command (which runs this file) catch a package that does not
 * build, not only one that does not typecheck.
 */
function buildPublishedPackages(): void {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  for (const dir of workspaceDirs) {
    const config = join(dir, "tsconfig.build.json");
    if (!existsSync(config)) continue;
    rmSync(join(dir, "dist"), { recursive: true, force: true });
    execFileSync(process.execPath, [tsc, "-p", config], { cwd: ROOT, stdio: "inherit" });
    console.log(`built ${relative(ROOT, join(dir, "dist"))}/`);
  }
}

/**
 * integrations/<name>/build.ts bundles what a host application loads (the
 * OpenClaw gateway: plain JS, no install); packages/<name>/build.ts a package
 * published as one bundle (the CLI, which carries the budget schema inside).
 */
function buildBundles(): void {
  for (const group of ["integrations", "packages"]) {
    const dir = join(ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const script = join(dir, name, "build.ts");
      if (!existsSync(script)) continue;
      execFileSync(process.execPath, ["--import", "tsx", script], { cwd: ROOT, stdio: "inherit" });
    }
  }
}

function externalImports(metafile: Metafile): string[] {
  return Object.values(metafile.outputs).flatMap((output) =>
    output.imports.filter((i) => i.external && !i.path.startsWith("node:")).map((i) => i.path),
  );
}

/** A dependency bundled by accident (undeclared, imported through another) would skip its native parts or hooks. */
function checkNothingThirdPartyBundled(name: string, metafile: Metafile): void {
  const bundled = Object.keys(metafile.inputs).filter((input) => input.includes("node_modules/"));
  if (bundled.length > 0) throw new Error(`${name}: bundled from node_modules (declare them): ${bundled.join(", ")}`);
}

/**
 * Files read at run time, copied next to the bundles: the migrations (the
 * migrator and embedded mode apply them), the shipped price table and the
 * console's built UI.
 */
function copyAssets(): void {
  cpSync(join(ROOT, "infra", "migrations", "clickhouse"), join(DIST, "assets", "migrations", "clickhouse"), {
    recursive: true,
  });
  for (const file of ["model_prices.json", "ATTRIBUTION.md"]) {
    cpSync(join(ROOT, "packages", "pricing", "data", file), join(DIST, "assets", "pricing", file));
  }
  // The console's UI, built by packages/console/build.ts (buildBundles, above): enforcement serves it.
  cpSync(join(ROOT, "packages", "console", "dist"), join(DIST, "assets", "console"), { recursive: true });
}

/**
 * Node resolves a bundle's imports from dist/ upwards; with pnpm's isolated
 * node_modules a workspace package's dependency is visible only from that
 * package's folder. So each used dependency is linked into dist/node_modules,
 * relatively, to the copy the declaring package has: the same files tsx
 * loads. dist/package.json lists them with their installed versions.
 */
function linkDependencies(used: Set<string>, declaredBy: Map<string, string[]>): void {
  const versions: Record<string, string> = {};
  for (const name of [...used].sort()) {
    const installed = new Set(
      (declaredBy.get(name) ?? [])
        .map((dir) => join(dir, "node_modules", name))
        .filter((path) => existsSync(path))
        .map((path) => realpathSync(path)),
    );
    const [target, ...others] = installed;
    if (!target) throw new Error(`${name}: imported but not installed (pnpm install?)`);
    if (others.length > 0) throw new Error(`${name}: several versions installed (${[...installed].join(", ")})`);
    const link = join(DIST, "node_modules", name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), target), link, "dir");
    versions[name] = (JSON.parse(readFileSync(join(target, "package.json"), "utf8")) as { version: string }).version;
  }
  const manifest = { name: "tollgate-dist", private: true, type: "module", dependencies: versions };
  writeFileSync(join(DIST, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

await main();
