import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlStore } from "./store";
import { versionAtLeast } from "./store";

/**
 * Numbered migrations (`NNN_verb_noun.sql` in infra/migrations/clickhouse),
 * applied in order and recorded in `schema_migrations`. Applying is
 * idempotent: recorded versions are skipped, and every statement is written
 * to be safe to re-run (IF NOT EXISTS), so a crash between a statement and
 * its record heals on the next run.
 *
 * A statement preceded by `-- requires-version: X.Y` runs only on engines at
 * least that new (chDB and current servers), so the write path also runs on
 * the 18.16 server these machines have.
 */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(
  // Bundled (dist/<entry>/index.js, see infra/build.ts), the build copies the
  // migrations to dist/assets; from source they are read in the repo.
  typeof TOLLGATE_BUNDLED !== "undefined"
    ? new URL("../assets/migrations/clickhouse", import.meta.url)
    : new URL("../../../infra/migrations/clickhouse", import.meta.url),
);
/** Defined (true) by infra/build.ts in the bundles only. */
declare const TOLLGATE_BUNDLED: boolean | undefined;

export interface Migration {
  version: number;
  name: string;
  statements: Array<{ sql: string; requiresVersion: string | null }>;
  checksum: string;
}

export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  const migrations = files.map((file) => {
    const text = readFileSync(join(dir, file), "utf8");
    return {
      version: Number(file.slice(0, 3)),
      name: file.replace(/\.sql$/, ""),
      statements: splitStatements(text),
      checksum: createHash("sha256").update(text).digest("hex").slice(0, 16),
    };
  });
  migrations.forEach((m, i) => {
    if (i > 0 && m.version === migrations[i - 1]?.version) throw new Error(`two migrations numbered ${m.version}`);
  });
  return migrations;
}

/** Statements end with `;` at the end of a line; comments before one may carry its version gate. */
export function splitStatements(text: string): Migration["statements"] {
  const statements: Migration["statements"] = [];
  let buffer: string[] = [];
  let requiresVersion: string | null = null;
  for (const line of text.split("\n")) {
    const gate = /^--\s*requires-version:\s*([\d.]+)\s*$/.exec(line.trim());
    if (gate && buffer.every((l) => l.trim() === "" || l.trim().startsWith("--"))) requiresVersion = gate[1] ?? null;
    buffer.push(line);
    if (line.trimEnd().endsWith(";")) {
      const sql = buffer
        .filter((l) => !l.trim().startsWith("--"))
        .join("\n")
        .trim()
        .replace(/;$/, "");
      if (sql.length > 0) statements.push({ sql, requiresVersion });
      buffer = [];
      requiresVersion = null;
    }
  }
  if (buffer.some((l) => l.trim() !== "" && !l.trim().startsWith("--"))) {
    throw new Error("migration text ends without a terminating ';'");
  }
  return statements;
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

/**
 * `ALTER TABLE t ADD COLUMN c …` is made safe to re-run by asking first: the
 * 18.16 server has no `ADD COLUMN IF NOT EXISTS`, and a crash between the
 * statement and the migration's record would otherwise fail every later start.
 */
async function columnAlreadyAdded(store: SqlStore, sql: string): Promise<boolean> {
  const match = /^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s/i.exec(sql);
  if (!match) return false;
  const rows = await store.query<{ n: number | string }>(
    "SELECT count() AS n FROM system.columns WHERE database = currentDatabase() AND table = {table:String} AND name = {column:String}",
    { table: match[1] as string, column: match[2] as string },
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

export async function migrate(store: SqlStore, migrations: Migration[] = loadMigrations()): Promise<MigrateResult> {
  await store.command(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       version UInt32, name String, checksum String, applied_at DateTime
     ) ENGINE = ReplacingMergeTree() ORDER BY version`,
  );
  const done = new Set(
    (await store.query<{ version: number }>("SELECT version FROM schema_migrations FINAL")).map((r) =>
      Number(r.version),
    ),
  );
  const engineVersion = await store.version();
  const result: MigrateResult = { applied: [], skipped: [] };
  for (const migration of migrations) {
    if (done.has(migration.version)) {
      result.skipped.push(migration.name);
      continue;
    }
    for (const statement of migration.statements) {
      if (statement.requiresVersion && !versionAtLeast(engineVersion, statement.requiresVersion)) continue;
      if (await columnAlreadyAdded(store, statement.sql)) continue;
      await store.command(statement.sql);
    }
    await store.insert("schema_migrations", [
      {
        version: migration.version,
        name: migration.name,
        checksum: migration.checksum,
        applied_at: Math.floor(Date.now() / 1000),
      },
    ]);
    result.applied.push(migration.name);
  }
  return result;
}
