// Builds the console's UI (ui/) into dist/: typechecks it with its own
// tsconfig (DOM, JSX), then Vite bundles it for /console/. Run by
// infra/build.ts (every packages/<name>/build.ts), so `pnpm build` and the
// test command build it; the server answers 503 "not built" without it.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", `${here}ui/tsconfig.json`], { stdio: "inherit" });
await build({
  root: `${here}ui`,
  base: "/console/",
  logLevel: "warn",
  // No inline script or style anywhere: the pages' CSP allows 'self' only.
  build: {
    outDir: `${here}dist`,
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
    rollupOptions: {
      // TanStack Query marks its modules "use client" (for React Server Components); meaningless in a plain bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  esbuild: { jsx: "automatic" },
});
console.log("built packages/console/dist/");
