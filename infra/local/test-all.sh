#!/usr/bin/env bash
# THE test command (README: `pnpm test`; CI: .ci/run). On a fresh Debian
# machine it installs what it needs (pnpm, the workspace, the engines), starts
# the engines, runs typecheck, lint and every test, and stops the engines
# again (TOLLGATE_KEEP_INFRA=1 keeps them up for another run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
phase_start=$(date +%s)
phase() { local now; now=$(date +%s); log "$1 ($((now - phase_start)) s since start)"; }

command -v pnpm >/dev/null || npm install -g pnpm@10 >&2
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile; else pnpm install; fi
phase "dependencies installed"

bash infra/local/up.sh
# The console's end-to-end test drives Debian's chromium (playwright-core downloads no browser).
ensure_packages chromium
if [ "${TOLLGATE_KEEP_INFRA:-}" != "1" ]; then trap 'bash infra/local/down.sh' EXIT; fi
# shellcheck disable=SC1091
source "$STATE/env"
phase "engines up"

pnpm exec tsc -p tsconfig.json
phase "typecheck passed"
# The bundles (the rest of `pnpm build`): test/e2e/build.e2e.test.ts starts services from them with plain node.
node --import tsx infra/build.ts
phase "build done"
pnpm exec biome check --error-on-warnings .
phase "lint passed"
pnpm exec vitest run
phase "tests passed"
