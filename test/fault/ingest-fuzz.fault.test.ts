import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { SqlStore } from "@tollgate/sql";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropDatabase, engineEnv, freshClickHouseDatabase, runId } from "../support/engines";
import { type PrivateBroker, startPrivateBroker } from "../support/mock-broker";
import { type RunningProcess, startService } from "../support/processes";
import { type Mode, type Stack, startStack } from "../support/stack";

const PER_ENDPOINT = 3_000;
const CONCURRENCY = 16;
/** Growth of the ingest process's resident memory the fuzz run may cause. */
const RSS_GROWTH_BUDGET_MB = 200;

interface Payload {
  path: "/v1/events" | "/v1/traces";
  contentType: string;
  body: Buffer;
  gzip?: boolean;
}

const validEvent = {
  project_id: "p",
  user_id: "u",
  agent_id: "a",
  model: "gpt-4o",
  usage: { prompt_tokens: 10, completion_tokens: 2 },
};

function validSpans() {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "tollgate.project.id": "p" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  provider
    .getTracer("fuzz")
    .startSpan("chat", {
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
        "user.id": "u",
        "gen_ai.agent.id": "a",
      },
    })
    .end();
  return memory.getFinishedSpans();
}

/** Malformed and hostile bodies for both endpoints, from fast-check's generators (fixed seed: reproducible). */
function payloads(): Payload[] {
  const spans = validSpans();
  const proto = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
  const otlpJson = Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array).toString("utf8");
  const eventJson = JSON.stringify(validEvent);

  const mutate = (bytes: Buffer) =>
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
      const copy = Buffer.from(bytes);
      for (const [at, value] of edits) copy[at % copy.length] = value;
      return copy;
    });
  const truncate = (text: string) => fc.nat({ max: text.length - 1 }).map((n) => Buffer.from(text.slice(0, n)));
  const deep = fc.integer({ min: 1_000, max: 50_000 }).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n)));
  // A valid event with one field replaced by anything JSON can hold.
  const wrongField = fc
    .tuple(
      fc.constantFrom("project_id", "user_id", "model", "usage", "timestamp", "cost_usd", "event_id"),
      fc.jsonValue(),
    )
    .map(([field, value]) => Buffer.from(JSON.stringify({ events: [{ ...validEvent, [field]: value }, "x"] })));
  const wrongAttribute = fc
    .tuple(
      fc.constantFrom("gen_ai.usage.input_tokens", "user.id", "gen_ai.request.model", "traceId", "spanId"),
      fc.jsonValue(),
    )
    .map(([name, value]) =>
      Buffer.from(
        otlpJson.replace(
          /"gen_ai\.usage\.input_tokens","value":\{"intValue":10\}/,
          `"${name}","value":${JSON.stringify({ intValue: value })}`,
        ),
      ),
    );

  const events: fc.Arbitrary<Payload> = fc
    .oneof(
      fc.json().map((text) => ({ body: Buffer.from(text) })),
      fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ body: Buffer.from(bytes) })),
      truncate(eventJson).map((body) => ({ body })),
      wrongField.map((body) => ({ body })),
      deep.map((body) => ({ body })),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ body: Buffer.from(bytes), gzip: false, fakeGzip: true })),
    )
    .map((p) => ({
      path: "/v1/events" as const,
      contentType: "application/json",
      body: p.body,
      ...("fakeGzip" in p ? { gzip: true } : {}),
    }));

  const traces: fc.Arbitrary<Payload> = fc
    .oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ ct: "application/x-protobuf", body: Buffer.from(bytes) })),
      mutate(proto).map((body) => ({ ct: "application/x-protobuf", body })),
      fc.json().map((text) => ({ ct: "application/json", body: Buffer.from(text) })),
      truncate(otlpJson).map((body) => ({ ct: "application/json", body })),
      wrongAttribute.map((body) => ({ ct: "application/json", body })),
      deep.map((body) => ({ ct: "application/json", body })),
    )
    .map((p) => ({ path: "/v1/traces" as const, contentType: p.ct, body: p.body }));

  return [
    ...fc.sample(events, { numRuns: PER_ENDPOINT, seed: 20261124 }),
    ...fc.sample(traces, { numRuns: PER_ENDPOINT, seed: 20261124 }),
  ];
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return Number(line?.[1] ?? 0) / 1024;
}

describe("ingest under malformed input", () => {
  const adminKey = `admin-${runId()}-${runId()}-${runId()}`;
  let broker: PrivateBroker;
  let store: SqlStore;
  let ingest: RunningProcess;
  let url = "";

  beforeAll(async () => {
    broker = await startPrivateBroker(1);
    store = await freshClickHouseDatabase();
    ({ proc: ingest, url } = await startService("ingest", {
      KAFKA_BROKERS: broker.brokers,
      CLICKHOUSE_URL: engineEnv().clickhouseUrl,
      CLICKHOUSE_DATABASE: store.database,
      TOLLGATE_ADMIN_KEY: adminKey,
      LOG_LEVEL: "info",
    }));
  });

  afterAll(async () => {
    await ingest?.stop();
    await broker?.stop();
    if (store) await dropDatabase(store);
  });

  it(`answers ${2 * PER_ENDPOINT} generated malformed payloads without a 5xx, stays up, and keeps its memory bounded`, async () => {
    const all = payloads();
    const pid = ingest.child.pid as number;
    const rssBefore = rssMb(pid);
    const statuses = new Map<number, number>();
    const fiveHundreds: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const p = all[next++] as Payload;
        const headers: Record<string, string> = {
          authorization: `Bearer ${adminKey}`,
          "content-type": p.contentType,
        };
        let body = p.body;
        if (p.gzip) headers["content-encoding"] = "gzip"; // declared but not gzip: a lie the server must catch
        if (p.gzip === undefined && next % 10 === 0) {
          body = gzipSync(body);
          headers["content-encoding"] = "gzip";
        }
        const res = await fetch(`${url}${p.path}`, { method: "POST", headers, body });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) fiveHundreds.push(`${p.path} ${res.status} ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const rssAfter = rssMb(pid);
    console.info(
      `fuzz: ${all.length} payloads, replies ${JSON.stringify(Object.fromEntries(statuses))}, ` +
        `ingest RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`,
    );
    expect(fiveHundreds).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(all.length);
    expect(ingest.child.exitCode).toBeNull();
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_BUDGET_MB);
    // Still taking good input after all that.
    const ok = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
      body: JSON.stringify(validEvent),
    });
    expect(ok.status).toBe(202);
  });
});

/**
 * The other routes with a body, in both modes (issue 13): check, budgets,
 * grants, tiers, keys and OTLP/JSON, each sent generated bodies — any JSON,
 * raw bytes, and a valid request with one field replaced by any JSON value.
 * Whatever arrives is a 4xx or a success, never a 5xx, and the processes
 * stay up. Text rules themselves are text-fuzz.fault.test.ts's.
 */
const PER_ROUTE = 150;

function routePayloads(): Array<{ method: string; path: string; body: Buffer; contentType: string }> {
  const budget = { scope: { type: "user", id: "u" }, metric: "tokens", window: { type: "lifetime" }, limit: 100 };
  const routes: Array<{ method: string; path: (id: string) => string; valid: Record<string, unknown> }> = [
    {
      method: "POST",
      path: () => "/v1/check",
      valid: { user_id: "u", project_id: "p", model: "gpt-4o", input_tokens: 10, reserve: true },
    },
    { method: "PUT", path: (id) => `/v1/budgets/${id}`, valid: { ...budget, filter: { model: "gpt-4o" }, tier: "t" } },
    {
      method: "POST",
      path: () => "/v1/budgets/fuzz/grants",
      valid: { member: "u", amount: 5, expires_at: "2099-01-01T00:00:00Z", reason: "r" },
    },
    { method: "PUT", path: (id) => `/v1/users/${id}/tier`, valid: { tier: "free", org_id: "o" } },
    { method: "POST", path: () => "/v1/keys", valid: { role: "agent", name: "n", default_tags: { user_id: "u" } } },
  ];
  const otlpJson = Buffer.from(JsonTraceSerializer.serializeRequest(validSpans()) as Uint8Array).toString("utf8");
  const out: Array<{ method: string; path: string; body: Buffer; contentType: string }> = [];
  for (const [r, route] of routes.entries()) {
    const fields = Object.keys(route.valid);
    const body = fc.oneof(
      fc.json().map((text) => Buffer.from(text)),
      fc.uint8Array({ maxLength: 500 }).map((bytes) => Buffer.from(bytes)),
      fc
        .tuple(fc.constantFrom(...fields), fc.jsonValue())
        .map(([field, value]) => Buffer.from(JSON.stringify({ ...route.valid, [field]: value }))),
    );
    // Path ids too: any text, percent-encoded as a client would (the routes validate them).
    const id = fc.oneof(fc.constant("fuzz"), fc.string({ minLength: 1, maxLength: 300 }).map(encodeURIComponent));
    for (const [pathId, bytes] of fc.sample(fc.tuple(id, body), { numRuns: PER_ROUTE, seed: 20261129 + r })) {
      out.push({ method: route.method, path: route.path(pathId), body: bytes, contentType: "application/json" });
    }
  }
  const mutated = fc
    .array(fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 6 })
    .map((edits) => {
      let text = otlpJson;
      for (const [at, insert] of edits) text = text.slice(0, at % text.length) + insert + text.slice(at % text.length);
      return Buffer.from(text);
    });
  for (const body of fc.sample(
    fc.oneof(
      mutated,
      fc.json().map((t) => Buffer.from(t)),
    ),
    {
      numRuns: PER_ROUTE,
      seed: 20261130,
    },
  )) {
    out.push({ method: "POST", path: "/v1/traces", body, contentType: "application/json" });
  }
  return out;
}

describe.each<Mode>(["embedded", "distributed"])("every route with a body under malformed input, %s mode", (mode) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(mode);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it(`answers ${6 * PER_ROUTE} generated bodies on check, budgets, grants, tiers, keys and OTLP/JSON without a 5xx`, async () => {
    // The grants route needs its budget to exist to read a body at all.
    const put = await fetch(`${stack.enforcementUrl}/v1/budgets/fuzz`, {
      method: "PUT",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        scope: { type: "user", id: "*" },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 9,
      }),
    });
    expect(put.status).toBe(201);
    const all = routePayloads();
    const fiveHundreds: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < all.length) {
        const i = next++;
        const p = all[i] as (typeof all)[number];
        // Spread over every instance (distributed mode runs two of each).
        const urls = p.path === "/v1/traces" ? stack.ingestUrls : stack.enforcementUrls;
        const base = urls[i % urls.length] as string;
        const res = await fetch(`${base}${p.path}`, {
          method: p.method,
          headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": p.contentType },
          body: p.body,
        });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500)
          fiveHundreds.push(`${p.method} ${p.path.slice(0, 60)} ${res.status} ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.info(`route fuzz (${mode}): ${all.length} bodies, replies ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(fiveHundreds).toEqual([]);
    for (const proc of stack.processes()) expect(proc.child.exitCode).toBeNull();
    const check = await fetch(`${stack.enforcementUrl}/v1/check`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "still-up", model: "gpt-4o", input_tokens: 1 }),
    });
    expect(check.status).toBe(200);
  });
});
