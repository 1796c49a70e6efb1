import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The admin key of an embedded instance: TOLLGATE_ADMIN_KEY when set, else
 * one generated at first start and kept (mode 0600) in the data dir so it
 * survives restarts.
 */
export function resolveAdminKey(dataDir: string, fromEnv: string | undefined): { key: string; origin: string } {
  if (fromEnv) return { key: fromEnv, origin: "TOLLGATE_ADMIN_KEY" };
  const file = join(dataDir, "admin.key");
  if (existsSync(file)) return { key: readFileSync(file, "utf8").trim(), origin: file };
  const key = `tga_${randomBytes(32).toString("base64url")}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: "wx" });
  return { key, origin: `${file} (generated)` };
}
