// Applies the numbered ClickHouse migrations to the server named by env:
// CLICKHOUSE_URL (required), CLICKHOUSE_DATABASE (default tollgate),
// CLICKHOUSE_USER, CLICKHOUSE_PASSWORD. Used by infra/local/up.sh and the
// compose `migrate` job; embedded mode migrates chDB itself at start.
import { migrate, openServerStore } from "@tollgate/sql";

const url = process.env.CLICKHOUSE_URL;
if (!url) {
  console.error("CLICKHOUSE_URL: is required (e.g. http://127.0.0.1:8123)");
  process.exit(1);
}
const store = await openServerStore({
  url,
  database: process.env.CLICKHOUSE_DATABASE ?? "tollgate",
  username: process.env.CLICKHOUSE_USER,
  password: process.env.CLICKHOUSE_PASSWORD,
});
try {
  const result = await migrate(store);
  console.log(JSON.stringify({ database: store.database, ...result }));
} finally {
  await store.close();
}
