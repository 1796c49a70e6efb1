import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but Node; `engines` talks to the real
// Redis, ClickHouse (server and chDB) and Kafka-protocol broker that
// infra/local/up.sh starts. `pnpm test` (infra/local/test-all.sh) runs both.
export default defineConfig({
  test: {
    // The engines are shared: files run one at a time so a fault test cannot
    // disturb another file's broker or Redis (unit files are fast either way).
    fileParallelism: false,
    projects: [
      {
        test: {
          name: "unit",
          include: [
            "packages/*/src/**/*.test.ts",
            "services/*/src/**/*.test.ts",
            "integrations/*/src/**/*.test.ts",
            "test/unit/**/*.test.ts",
          ],
          exclude: ["**/*.integration.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          name: "engines",
          include: [
            "packages/*/src/**/*.integration.test.ts",
            "services/*/src/**/*.integration.test.ts",
            "test/**/*.e2e.test.ts",
            "test/**/*.fault.test.ts",
          ],
          exclude: ["**/node_modules/**"],
          globalSetup: ["test/support/require-engines.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
