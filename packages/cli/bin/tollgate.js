#!/usr/bin/env node
// `tollgate` in the workspace (`pnpm exec tollgate`): the TypeScript source
// through tsx, so never a stale build. A package installed from npm has no
// src/: it runs the bundle (which `pnpm publish` also names directly, see
// publishConfig.bin; `npm pack` ignores publishConfig, hence this fallback).
import { existsSync } from "node:fs";

const source = new URL("../src/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import("../dist/tollgate.js");
}
