/**
 * Global setup of the `engines` project: those tests talk to a real Redis, a
 * Redis Cluster, a ClickHouse server and a Kafka-protocol broker.
 * infra/local/up.sh starts them and writes their addresses to
 * .tollgate/infra/env; `pnpm test` sources it.
 * Without them the suite fails loudly here instead of skipping.
 */
const REQUIRED = [
  "REDIS_URL",
  "REDIS_CLUSTER_URL",
  "CLICKHOUSE_URL",
  "KAFKA_BROKERS",
  "TOLLGATE_MOCK_BROKER_BIN",
] as const;

export default function requireEngines(): void {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(
      `The engines suite needs ${missing.join(", ")}. Run \`pnpm test\` (which starts the engines), or ` +
        "`bash infra/local/up.sh && source .tollgate/infra/env` first.",
    );
  }
}
