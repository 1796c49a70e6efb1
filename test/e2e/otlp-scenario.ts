import { context, trace } from "@opentelemetry/api";
import { ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter as OTLPHttpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OTLPProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, callPlainAndGzipped } from "../support/http";
import type { SkeletonTarget } from "./skeleton-scenario";

/** One model call of the agent trace, in the new or the old GenAI attribute names. */
interface Call {
  names: "new" | "old";
  input: number;
  output: number;
  cacheRead?: number;
}

/**
 * An agent run as an instrumented framework emits it: an invoke_agent span
 * carrying the user and the sum of its children's usage (which must not be
 * counted again), chat spans below it, a tool span, and the project on the
 * resource.
 */
function agentRun(user: string | null, calls: Call[], session = `session-of-${user}`): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": "research-agent",
      "tollgate.project.id": "otlp_fleet",
      "tollgate.task.type": "research_summary",
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("e2e-agent");
  const agent = tracer.startSpan("invoke_agent market-researcher", {
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "market-researcher-01",
      ...(user === null ? {} : { "user.id": user }),
      "session.id": session,
      "gen_ai.usage.input_tokens": calls.reduce((sum, c) => sum + c.input, 0),
      "gen_ai.usage.output_tokens": calls.reduce((sum, c) => sum + c.output, 0),
    },
  });
  const inAgent = trace.setSpan(context.active(), agent);
  for (const c of calls) {
    const attributes =
      c.names === "new"
        ? {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o",
            "gen_ai.usage.input_tokens": c.input,
            "gen_ai.usage.output_tokens": c.output,
            ...(c.cacheRead ? { "gen_ai.usage.cache_read.input_tokens": c.cacheRead } : {}),
          }
        : {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": c.input,
            "gen_ai.usage.completion_tokens": c.output,
          };
    tracer.startSpan("chat gpt-4o", { attributes }, inAgent).end();
  }
  tracer
    .startSpan("execute_tool web_search", { attributes: { "gen_ai.operation.name": "execute_tool" } }, inAgent)
    .end();
  agent.end();
  return memory.getFinishedSpans();
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: ExportResultCode; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

/**
 * gpt-4o list price: 2.5 µUSD per input token, 1.25 per cached input token,
 * 10 per output token; each event's cost is rounded half up to the micro-USD once.
 */
function gpt4oMicro(calls: Call[]): number {
  return calls.reduce(
    (sum, c) => sum + Math.round((c.input - (c.cacheRead ?? 0)) * 2.5 + (c.cacheRead ?? 0) * 1.25 + c.output * 10),
    0,
  );
}

export function otlpScenario(target: () => SkeletonTarget): void {
  const tenant = runId("org_otlp_");
  let agentKey = "";
  const traces = () => `${target().ingestUrl}/v1/traces`;

  it("counts agent traces from the official OTLP exporters (protobuf and JSON) exactly, never the agent span twice", async () => {
    const t = target();
    const created = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: t.adminKey,
      json: { role: "agent", name: "otlp agent", default_tags: { org_id: tenant } },
    });
    expect(created.status).toBe(201);
    agentKey = created.body.key;
    const headers = { Authorization: `Bearer ${agentKey}` };

    const exporters = {
      protobuf: new OTLPProtoExporter({ url: traces(), headers }),
      json: new OTLPHttpJsonExporter({ url: traces(), headers }),
    };
    const calls: Call[] = [
      { names: "new", input: 1040, output: 450, cacheRead: 40 },
      { names: "old", input: 2000, output: 500 },
      { names: "new", input: 12, output: 3 },
      { names: "old", input: 7, output: 1 },
    ];
    for (const [encoding, exporter] of Object.entries(exporters)) {
      const user = runId(`user_${encoding}_`);
      const result = await exportWith(exporter, agentRun(user, calls));
      expect(result.code, `${encoding}: ${result.error?.message}`).toBe(ExportResultCode.SUCCESS);

      const input = calls.reduce((sum, c) => sum + c.input, 0);
      const output = calls.reduce((sum, c) => sum + c.output, 0);
      const reply = await t.settle(async () => {
        const r = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}&project_id=otlp_fleet`, {
          key: agentKey,
        });
        return r.body?.totals?.user?.day?.requests === calls.length ? r : undefined;
      }, `${encoding}: the agent run in the counters`);
      expect(reply.body.totals.user.day, encoding).toEqual({
        tokens: input + output,
        input_tokens: input,
        output_tokens: output,
        cost_micro_usd: gpt4oMicro(calls),
        requests: calls.length,
      });
      await exporter.shutdown();
    }
  });

  it("rejects usage spans it cannot attribute, with the reason in partial_success and on the dead-letter topic", async () => {
    const t = target();
    const marker = runId("nouser_");
    // No user anywhere (the key has no default user): every model call is rejected.
    const spans = agentRun(null, [{ names: "new", input: 5, output: 5 }], marker);
    const noUsage = agentRun(runId("user_"), []);
    const body = JsonTraceSerializer.serializeRequest([...spans, ...noUsage]) as Uint8Array;
    const reply = await call("POST", traces(), {
      key: agentKey,
      raw: Buffer.from(body),
      contentType: "application/json",
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get("content-type")).toMatch(/application\/json/);
    expect(reply.body.partialSuccess.rejectedSpans).toBe("1");
    expect(reply.body.partialSuccess.errorMessage).toMatch(/user_id is required/);

    const letters = await t.settle(async () => {
      const found = await t.deadLettersWith(marker);
      return found.length > 0 ? found : undefined;
    }, "the rejected span as a dead letter");
    expect(letters[0]?.reason).toMatch(/user_id is required/);
  });

  it("answers undecodable bodies with 400, wrong types with 415, big ones with 413, and takes gzip", async () => {
    const t = target();
    const key = agentKey;
    for (const [raw, contentType] of [
      [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), "application/x-protobuf"],
      [Buffer.from("{not json"), "application/json"],
      [Buffer.from('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}'), "application/json"],
    ] as const) {
      const reply = await call("POST", traces(), { key, raw, contentType });
      expect(reply.status, String(raw)).toBe(400);
    }
    expect((await call("POST", traces(), { key, raw: "x", contentType: "text/plain" })).status).toBe(415);
    const huge = Buffer.alloc(2 * 1024 * 1024, 0x0a);
    expect((await call("POST", traces(), { key, raw: huge, contentType: "application/x-protobuf" })).status).toBe(413);
    expect((await call("POST", traces(), { raw: "{}", contentType: "application/json" })).status).toBe(401);

    const user = runId("user_gzip_");
    const proto = ProtobufTraceSerializer.serializeRequest(agentRun(user, [{ names: "new", input: 3, output: 2 }]));
    const gz = await call("POST", traces(), {
      key,
      raw: Buffer.from(proto as Uint8Array),
      contentType: "application/x-protobuf",
      gzip: true,
    });
    expect(gz.status).toBe(200);
    expect(gz.headers.get("content-type")).toMatch(/application\/x-protobuf/);
    const usage = await t.settle(async () => {
      const r = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}`, { key });
      return r.body?.totals?.user?.day?.requests === 1 ? r : undefined;
    }, "the gzip request in the counters");
    expect(usage.body.totals.user.day.tokens).toBe(5);
  });

  it("answers protobuf exports alike whichever path serves them (direct when plain, Express when gzipped)", async () => {
    const t = target();
    const protobuf = "application/x-protobuf";
    const exportOf = (spans: ReadableSpan[]) =>
      Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
    const both = (options: Parameters<typeof call>[2]) => callPlainAndGzipped("POST", traces(), options);

    // Accepted on both paths: two different runs of one user, each counted once.
    const user = runId("user_paths_");
    const runs = [
      exportOf(agentRun(user, [{ names: "new", input: 3, output: 2 }])),
      exportOf(agentRun(user, [{ names: "old", input: 30, output: 20 }])),
    ];
    const plain = await call("POST", traces(), { key: agentKey, raw: runs[0], contentType: protobuf });
    const gzipped = await call("POST", traces(), { key: agentKey, raw: runs[1], contentType: protobuf, gzip: true });
    for (const reply of [plain, gzipped]) {
      expect(reply.status).toBe(200);
      expect(reply.headers.get("content-type")).toBe(protobuf);
    }
    expect(plain.body).toEqual(gzipped.body);
    const counted = await t.settle(async () => {
      const r = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}`, { key: agentKey });
      return r.body?.totals?.user?.day?.requests === 2 ? r : undefined;
    }, "both paths' runs in the counters");
    expect(counted.body.totals.user.day).toMatchObject({ tokens: 55, requests: 2 });

    // A span without a user: partial success, the same reply on both paths.
    const partial = await both({
      key: agentKey,
      raw: exportOf(agentRun(null, [{ names: "new", input: 1, output: 1 }])),
      contentType: protobuf,
    });
    for (const reply of partial) {
      expect(reply.status).toBe(200);
      expect(String(reply.body)).toMatch(/user_id is required/);
    }
    expect(partial[0].body).toEqual(partial[1].body);

    // Each refusal, plain and gzipped: the same status and body on both paths.
    for (const reply of await both({ raw: runs[0], contentType: protobuf })) {
      expect(reply.status).toBe(401);
      expect(reply.headers.get("www-authenticate")).toMatch(/^Bearer realm="tollgate"/);
    }
    const viewer = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: t.adminKey,
      json: { role: "viewer", name: "otlp viewer" },
    });
    for (const reply of await both({ key: viewer.body.key, raw: runs[0], contentType: protobuf })) {
      expect(reply.status).toBe(403);
    }
    const undecodable = await both({
      key: agentKey,
      raw: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]),
      contentType: protobuf,
    });
    for (const reply of undecodable) expect(reply.status).toBe(400);
    expect(undecodable[0].body).toEqual(undecodable[1].body);
    const huge = Buffer.alloc(2 * 1024 * 1024, 0x0a);
    const tooLarge = await both({ key: agentKey, raw: huge, contentType: protobuf });
    for (const reply of tooLarge) {
      expect(reply.status).toBe(413);
      expect(String(reply.body)).toMatch(/body exceeds \d+ bytes/);
    }
    expect(tooLarge[0].body).toEqual(tooLarge[1].body);
    // Without a Content-Length (chunked), the direct path finds the limit while reading.
    const chunked = await call("POST", traces(), { key: agentKey, raw: huge, contentType: protobuf, chunked: true });
    expect(chunked.status).toBe(413);
    expect(chunked.body).toEqual(tooLarge[0].body);
  });
}

/**
 * One OpenClaw run as current OpenClaw (diagnostics-otel) exports it: the
 * run span, two openclaw.model.call spans carrying GenAI names and per-call
 * usage beside its own (gen_ai.system, gen_ai.request.model,
 * gen_ai.operation.name = chat, gen_ai.usage.*), and the run-level
 * openclaw.model.usage accounting span with openclaw.tokens.* and
 * gen_ai.usage.* (input there = input + cache read + cache write). No user:
 * that comes from the key's default tags.
 */
function openClawRun(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "openclaw-gateway" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer("openclaw");
  const run = tracer.startSpan("openclaw.run", {
    attributes: {
      "openclaw.provider": "anthropic",
      "openclaw.model": "claude-sonnet-4-5",
      "openclaw.channel": "webchat",
    },
  });
  const inRun = trace.setSpan(context.active(), run);
  for (const [input, output] of [
    [500, 70],
    [500, 80],
  ] as const) {
    tracer
      .startSpan(
        "openclaw.model.call",
        {
          attributes: {
            "openclaw.provider": "anthropic",
            "openclaw.model": "claude-sonnet-4-5",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.operation.name": "chat",
            "openclaw.model_call.observation_unit": "request",
            "gen_ai.usage.input_tokens": input,
            "gen_ai.usage.output_tokens": output,
            "gen_ai.usage.cache_read.input_tokens": 150,
            "gen_ai.usage.cache_creation.input_tokens": 50,
          },
        },
        inRun,
      )
      .end();
  }
  tracer
    .startSpan(
      "openclaw.model.usage",
      {
        attributes: {
          "openclaw.channel": "webchat",
          "openclaw.provider": "anthropic",
          "openclaw.model": "claude-sonnet-4-5",
          "openclaw.agent": "main",
          "openclaw.tokens.input": 600,
          "openclaw.tokens.output": 150,
          "openclaw.tokens.cache_read": 300,
          "openclaw.tokens.cache_write": 100,
          "openclaw.tokens.total": 1150,
          "gen_ai.system": "anthropic",
          "gen_ai.request.model": "claude-sonnet-4-5",
          "gen_ai.operation.name": "chat",
          "gen_ai.usage.input_tokens": 1000,
          "gen_ai.usage.output_tokens": 150,
          "gen_ai.usage.cache_read.input_tokens": 300,
          "gen_ai.usage.cache_creation.input_tokens": 100,
        },
      },
      inRun,
    )
    .end();
  run.end();
  return memory.getFinishedSpans();
}

/** Issue 13: openclaw.model.call carries gen_ai.operation.name and gen_ai.usage.*, and was counted beside model.usage. */
export function openClawScenario(target: () => SkeletonTarget): void {
  it("counts an OpenClaw run once, at openclaw.model.usage, never at its openclaw.model.call spans (protobuf and JSON)", async () => {
    const t = target();
    const org = runId("org_openclaw_");
    for (const encoding of ["protobuf", "json"] as const) {
      const user = runId(`user_openclaw_${encoding}_`);
      // OpenClaw's spans carry no user: the key's default tags attribute them.
      const created = await call("POST", `${t.enforcementUrl}/v1/keys`, {
        key: t.adminKey,
        json: {
          role: "agent",
          name: `openclaw ${encoding}`,
          // agent_id too, as an OpenClaw deployment's key would: the model.call spans are attributable, so only the rule keeps them out.
          default_tags: { org_id: org, project_id: "openclaw_fleet", user_id: user, agent_id: "main" },
        },
      });
      expect(created.status).toBe(201);
      const key = created.body.key as string;
      const headers = { Authorization: `Bearer ${key}` };
      const exporter =
        encoding === "protobuf"
          ? new OTLPProtoExporter({ url: `${t.ingestUrl}/v1/traces`, headers })
          : new OTLPHttpJsonExporter({ url: `${t.ingestUrl}/v1/traces`, headers });
      const result = await exportWith(exporter, openClawRun());
      expect(result.code, `${encoding}: ${result.error?.message}`).toBe(ExportResultCode.SUCCESS);
      await exporter.shutdown();

      // The same usage reported once as JSON (its own user) gives the exact cost of one run.
      const twin = runId(`user_openclaw_twin_${encoding}_`);
      const once = await call("POST", `${t.ingestUrl}/v1/events`, {
        key: t.adminKey,
        json: {
          org_id: org,
          project_id: "openclaw_fleet",
          user_id: twin,
          agent_id: "main",
          provider: "anthropic",
          model: "claude-sonnet-4-5",
          usage: { input_tokens: 1000, output_tokens: 150, cached_tokens: 300, cache_creation_input_tokens: 100 },
        },
      });
      expect(once.status).toBe(202);

      const usageOf = async (who: string, asKey: string) =>
        t.settle(async () => {
          const r = await call("GET", `${t.enforcementUrl}/v1/usage?org_id=${org}&user_id=${who}`, { key: asKey });
          return r.body?.totals?.user?.day?.requests >= 1 ? r.body.totals.user.day : undefined;
        }, `${encoding}: usage of ${who}`);
      const counted = await usageOf(user, key);
      const expected = await usageOf(twin, t.adminKey);
      // Exactly the model.usage span: 1,000 input (cache included) + 150 output, one request — not 2,150 over three.
      expect(counted, encoding).toEqual({
        ...expected,
        tokens: 1150,
        input_tokens: 1000,
        output_tokens: 150,
        requests: 1,
      });
    }
  });
}
