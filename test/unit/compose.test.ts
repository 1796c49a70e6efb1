import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { z } from "zod";
import { aggregatorEnvSchema } from "../../services/aggregator/src/env";
import { enforcementEnvSchema } from "../../services/enforcement/src/env";
import { ingestEnvSchema } from "../../services/ingest/src/env";
import { reportsEnvSchema } from "../../services/reports/src/env";
import { sinkEnvSchema } from "../../services/sink/src/env";
import { REPO_ROOT } from "../support/processes";

// docker compose cannot run on these machines (no engine), so the file is
// checked here: every service is there, with every variable its env schema
// requires, and the engines are official, pinned images.
interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  depends_on?: unknown;
}
const compose = parse(readFileSync(`${REPO_ROOT}/docker-compose.yml`, "utf8")) as {
  services: Record<string, ComposeService>;
};

/** The variables a schema cannot do without: those an empty environment fails on. */
function requiredVariables(schema: z.ZodType): string[] {
  const result = schema.safeParse({});
  return result.success ? [] : result.error.issues.map((issue) => String(issue.path[0]));
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((line) => [line.split("=")[0] as string, line.slice(line.indexOf("=") + 1)]));
}

const services: Array<[string, z.ZodType]> = [
  ["ingest", ingestEnvSchema],
  ["aggregator", aggregatorEnvSchema],
  ["sink", sinkEnvSchema],
  ["enforcement", enforcementEnvSchema],
  ["reports", reportsEnvSchema],
];

describe("docker-compose.yml", () => {
  it.each(services)("runs %s with every variable its env schema requires", (name, schema) => {
    const service = compose.services[name];
    expect(service, `service ${name}`).toBeDefined();
    const env = environmentOf(service as ComposeService);
    const required = requiredVariables(schema);
    expect(required.length).toBeGreaterThan(0);
    for (const variable of required) expect(Object.keys(env), `${name} sets ${variable}`).toContain(variable);
    // Every variable it sets is one the service reads (no typos that silently do nothing).
    const known = Object.keys((schema as unknown as z.ZodObject).shape);
    // (SERVICE only tells the shared image which entry file to run.)
    for (const variable of Object.keys(env).filter((v) => v !== "SERVICE")) {
      expect(known, `${name} reads ${variable}`).toContain(variable);
    }
    expect(env.SERVICE).toBe(name);
  });

  it("uses official, pinned images of Kafka (KRaft), Redis and ClickHouse", () => {
    const images = Object.values(compose.services).map((s) => s.image ?? "");
    expect(images.some((i) => /^apache\/kafka:\d+\.\d+\.\d+$/.test(i))).toBe(true);
    expect(images.some((i) => /^redis:\d+\.\d+/.test(i))).toBe(true);
    expect(images.some((i) => /^clickhouse\/clickhouse-server:\d+\.\d+/.test(i))).toBe(true);
    const kafka = Object.values(compose.services).find((s) => s.image?.startsWith("apache/kafka"));
    expect(JSON.stringify(environmentOf(kafka as ComposeService))).toMatch(/KAFKA_PROCESS_ROLES/);
  });
});
