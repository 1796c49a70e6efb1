import { describe, expect, it } from "vitest";
import { startTs } from "../support/processes";

// Every service refuses to start on bad configuration, naming the variable
// and why, before touching any engine.
const cases: Array<[string, Record<string, string>, RegExp[]]> = [
  ["ingest", {}, [/KAFKA_BROKERS: is required/, /CLICKHOUSE_URL/, /TOLLGATE_ADMIN_KEY: is required/]],
  [
    "enforcement",
    { REDIS_URL: "http://x", CLICKHOUSE_URL: "http://127.0.0.1:1", TOLLGATE_ADMIN_KEY: "short" },
    [
      /REDIS_URL: must start with redis:\/\/, rediss:\/\/, redis\+cluster:\/\//,
      /TOLLGATE_ADMIN_KEY: must be at least 24 characters/,
    ],
  ],
  [
    "enforcement",
    { REDIS_URL: "redis+cluster://127.0.0.1:7001,127.0.0.1", CLICKHOUSE_URL: "http://127.0.0.1:1" },
    [/REDIS_URL: cluster node "127.0.0.1" is not host:port/],
  ],
  [
    "aggregator",
    { KAFKA_BROKERS: "no-port", REDIS_URL: "redis://127.0.0.1:1", AGGREGATOR_PORT: "99999" },
    [/KAFKA_BROKERS: must be a comma-separated list of host:port/, /AGGREGATOR_PORT: must be a port number/],
  ],
  [
    "sink",
    { KAFKA_BROKERS: "127.0.0.1:1", CLICKHOUSE_URL: "http://127.0.0.1:1", CLICKHOUSE_DATABASE: "x; DROP" },
    [/CLICKHOUSE_DATABASE: must be a plain identifier/],
  ],
  ["embedded", { INGEST_PORT: "http" }, [/INGEST_PORT/]],
];

const INHERITED_CONFIG = ["KAFKA_BROKERS", "REDIS_URL", "CLICKHOUSE_URL", "TOLLGATE_ADMIN_KEY", "CLICKHOUSE_DATABASE"];

describe("configuration is validated at start", () => {
  it.each(cases)("%s refuses bad env, naming each variable", async (service, env, messages) => {
    // The engines' addresses of the test run are not inherited: each case sets exactly what it tests.
    const proc = startTs(`services/${service}/src/index.ts`, env, service, INHERITED_CONFIG);
    expect(await proc.exited()).toBe(1);
    for (const message of messages) expect(proc.output()).toMatch(message);
  });
});
