import { readFileSync, writeFileSync } from "node:fs";
import { insertUsageEvents, migrate, openServerStore, type SqlStore } from "@tollgate/sql";
import { cookbookEvents } from "./cookbook-data";

export const COOKBOOK = new URL("../../docs/sql-cookbook.md", import.meta.url);

/** The cookbook's queries, each with the result block that follows it. */
export function cookbookEntries(text: string): Array<{ sql: string; result: string }> {
  const out: Array<{ sql: string; result: string }> = [];
  const pattern = /```sql\n([\s\S]*?)```\n\n```text\n([\s\S]*?)```/g;
  for (const match of text.matchAll(pattern)) out.push({ sql: match[1] as string, result: match[2] as string });
  return out;
}

/** A query's rows as tab-separated text with a header line, as clickhouse-client prints them. */
export async function runAsText(store: SqlStore, sql: string): Promise<string> {
  const rows = await store.query<Record<string, unknown>>(sql);
  if (rows.length === 0) return "";
  const header = Object.keys(rows[0] as object).join("\t");
  return `${[header, ...rows.map((row) => Object.values(row).map(String).join("\t"))].join("\n")}\n`;
}

export async function seededStore(url: string, database: string): Promise<SqlStore> {
  const store = await openServerStore({ url, database });
  await migrate(store);
  await insertUsageEvents(store, cookbookEvents());
  return store;
}

// `node --import tsx test/support/cookbook.ts` (engines up): refreshes the results printed in the cookbook.
if (import.meta.url === `file://${process.argv[1]}`) {
  const store = await seededStore(process.env.CLICKHOUSE_URL as string, `tg_cookbook_${Date.now()}`);
  let text = readFileSync(COOKBOOK, "utf8");
  for (const entry of cookbookEntries(text)) {
    const result = await runAsText(store, entry.sql);
    text = text.replace(
      `\`\`\`sql\n${entry.sql}\`\`\`\n\n\`\`\`text\n${entry.result}\`\`\``,
      `\`\`\`sql\n${entry.sql}\`\`\`\n\n\`\`\`text\n${result}\`\`\``,
    );
  }
  writeFileSync(COOKBOOK, text);
  await store.command(`DROP DATABASE ${store.database}`);
  await store.close();
}
