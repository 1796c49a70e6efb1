import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The README's configuration table is the operator's reference: it must name
 * every variable some service's env schema reads, for exactly the services
 * that read it, and nothing no schema has. Variables read by libraries
 * rather than by a schema (the OpenTelemetry SDK's) are listed here.
 */
const READ_BY_LIBRARIES = new Set(["OTEL_EXPORTER_OTLP_ENDPOINT"]);
const ROOT = join(import.meta.dirname, "../..");

/** variable → services whose env schema (any zod object exported by services/<name>/src/env.ts) holds it */
async function variablesOfSchemas(): Promise<Map<string, Set<string>>> {
  const found = new Map<string, Set<string>>();
  for (const service of readdirSync(join(ROOT, "services"))) {
    const module = (await import(join(ROOT, "services", service, "src", "env.ts"))) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      const shape = (value as { shape?: unknown; _zod?: unknown } | null)?._zod
        ? (value as { shape?: Record<string, unknown> }).shape
        : undefined;
      if (!shape) continue;
      for (const name of Object.keys(shape)) {
        if (!found.has(name)) found.set(name, new Set());
        found.get(name)?.add(service);
      }
    }
  }
  return found;
}

/** variable → services, read from the table under "## Configuration" ("all" names every service). */
function variablesOfReadme(services: string[]): Map<string, Set<string>> {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? "";
  const table = new Map<string, Set<string>>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (!line.startsWith("| `") || cells.length < 4) continue;
    const names = [...(cells[1] ?? "").matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1] as string);
    const where = cells[2] === "all" ? services : (cells[2] ?? "").split(",").map((s) => s.trim());
    for (const name of names) {
      if (!table.has(name)) table.set(name, new Set());
      for (const service of where) table.get(name)?.add(service);
    }
  }
  return table;
}

describe("README configuration table", () => {
  it("names every variable of every service's env schema, for exactly the services that read it", async () => {
    const schemas = await variablesOfSchemas();
    const services = readdirSync(join(ROOT, "services"));
    const table = variablesOfReadme(services);
    expect(schemas.size).toBeGreaterThan(10);

    const missing = [...schemas.keys()].filter((name) => !table.has(name));
    expect(missing, "variables of a schema missing from the README table").toEqual([]);
    const unknown = [...table.keys()].filter((name) => !schemas.has(name) && !READ_BY_LIBRARIES.has(name));
    expect(unknown, "README names variables no schema has").toEqual([]);
    for (const [name, readers] of schemas) {
      expect([...(table.get(name) ?? [])].sort(), `services listed for ${name}`).toEqual([...readers].sort());
    }
  });
});

describe("README links", () => {
  it("point at files of this repository that exist, never outside it", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    expect(targets.length).toBeGreaterThan(3);
    for (const target of targets) {
      expect(target, "a link that leaves the repository").not.toMatch(/^(https?:|\.\.\/|\/)/);
      expect(existsSync(join(ROOT, target.split("#")[0] as string)), `${target} exists`).toBe(true);
    }
  });
});
