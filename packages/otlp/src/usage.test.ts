import { describe, expect, it } from "vitest";
import type { Attributes, OtlpSpan } from "./decode";
import { spansToUsage } from "./usage";

let counter = 0;
function span(name: string, attributes: Attributes, parent?: OtlpSpan, resource: Attributes = {}): OtlpSpan {
  counter++;
  return {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: counter.toString(16).padStart(16, "0"),
    parentSpanId: parent?.spanId ?? null,
    name,
    startTimeMs: 1_700_000_000_000,
    endTimeMs: 1_700_000_001_000,
    attributes,
    resource,
    error: false,
    path: `spans[${counter}]`,
  };
}

const chatNew = (parent: OtlpSpan, input: number, output: number, extra: Attributes = {}) =>
  span(
    "chat gpt-4o",
    {
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.usage.input_tokens": input,
      "gen_ai.usage.output_tokens": output,
      ...extra,
    },
    parent,
  );
const chatOld = (parent: OtlpSpan, input: number, output: number) =>
  span(
    "chat",
    {
      "gen_ai.operation.name": "chat",
      "gen_ai.system": "openai",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.usage.prompt_tokens": input,
      "gen_ai.usage.completion_tokens": output,
    },
    parent,
  );

describe("spans to usage", () => {
  it("counts model calls only, not the agent span that repeats their totals, and inherits the agent", () => {
    const agent = span(
      "invoke_agent",
      {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "market-researcher",
        "gen_ai.usage.input_tokens": 3040, // the children's sum: must not count again
        "gen_ai.usage.output_tokens": 950,
        "user.id": "u1",
        "gen_ai.conversation.id": "conv-7",
      },
      undefined,
    );
    const a = chatNew(agent, 1040, 450, { "gen_ai.usage.cache_read.input_tokens": 40 });
    const b = chatOld(agent, 2000, 500);
    const tool = span("execute_tool search", { "gen_ai.operation.name": "execute_tool" }, agent);
    const http = span("GET /search", { "http.method": "GET" }, tool);
    const resource = { "tollgate.project.id": "p1", "tollgate.task.type": "research_summary" };
    for (const s of [agent, a, b, tool, http]) s.resource = resource;

    const result = spansToUsage([agent, a, b, tool, http]);
    expect(result.ignored).toBe(3);
    expect(result.rejected).toEqual([]);
    expect(result.usage.map((u) => u.input)).toEqual([
      expect.objectContaining({
        trace_id: a.traceId,
        span_id: a.spanId,
        timestamp: 1_700_000_001_000,
        user_id: "u1",
        agent_id: "market-researcher",
        session_id: "conv-7",
        project_id: "p1",
        task_type: "research_summary",
        model: "gpt-4o",
        usage: expect.objectContaining({ input_tokens: 1040, output_tokens: 450, cached_input_tokens: 40 }),
        status: "ok",
      }),
      expect.objectContaining({
        span_id: b.spanId,
        provider: "openai",
        usage: expect.objectContaining({ input_tokens: 2000, output_tokens: 500 }),
      }),
    ]);
  });

  it("prefers the span's own identity, then the nearest enclosing span, then the resource", () => {
    const outer = span("invoke_agent", { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "outer" });
    const inner = span(
      "invoke_agent",
      { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "inner", "enduser.id": 42 },
      outer,
    );
    const call = chatNew(inner, 1, 1, { "tollgate.project.id": "own-project" });
    call.resource = { "tollgate.project.id": "resource-project", "tollgate.org.id": "acme" };
    const [usage] = spansToUsage([outer, inner, call]).usage;
    expect(usage?.input).toMatchObject({
      agent_id: "inner",
      user_id: "42",
      project_id: "own-project",
      org_id: "acme",
    });
  });

  it("counts only the innermost of nested usage spans (framework span around the client span)", () => {
    const framework = chatNew(span("root", {}), 100, 10);
    const client = chatNew(framework, 100, 10);
    const legacyWrapper = span("llm", { "gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 1 });
    const result = spansToUsage([framework, client, legacyWrapper]);
    expect(result.usage.map((u) => u.span.spanId)).toEqual([client.spanId, legacyWrapper.spanId]);
  });

  it("takes OpenClaw's model.usage span and not its model.call spans", () => {
    const usage = span("openclaw.model.usage", {
      "openclaw.agent": "main",
      "openclaw.model": "claude-sonnet-4-5",
      "openclaw.provider": "anthropic",
      "openclaw.tokens.input": 900,
      "openclaw.tokens.output": 100,
      "openclaw.tokens.cache_read": 300,
    });
    const call = span(
      "openclaw.model.call",
      { "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 100 },
      usage,
    );
    const result = spansToUsage([usage, call]);
    expect(result.ignored).toBe(1);
    expect(result.usage).toHaveLength(1);
    expect(result.usage[0]?.input).toMatchObject({
      agent_id: "main",
      model: "claude-sonnet-4-5",
      provider: "anthropic",
      // openclaw.tokens.input leaves the cache out; the event's input holds it.
      usage: expect.objectContaining({ input_tokens: 1200, output_tokens: 100, cached_input_tokens: 300 }),
    });
  });

  // As current OpenClaw (diagnostics-otel) emits them: GenAI names beside its own on both spans.
  const openClawRun = () => {
    const usage = span("openclaw.model.usage", {
      "openclaw.agent": "main",
      "openclaw.channel": "webchat",
      "openclaw.provider": "anthropic",
      "openclaw.model": "claude-sonnet-4-5",
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
    });
    const call = (name: string, input: number, output: number) =>
      span(name, {
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
      });
    return { usage, calls: [call("openclaw.model.call", 500, 70), call("openclaw.model.call", 500, 80)], call };
  };

  it("never counts openclaw.model.call, whatever GenAI attributes it carries; counts model.usage once", () => {
    const { usage, calls } = openClawRun();
    // In either order, and whether the calls are children of the usage span or its siblings.
    for (const spans of [
      [usage, ...calls],
      [...calls, usage],
    ]) {
      const result = spansToUsage(spans);
      expect(result.rejected).toEqual([]);
      expect(result.ignored).toBe(2);
      expect(result.usage.map((u) => u.span)).toEqual([usage]);
      expect(result.usage[0]?.input).toMatchObject({
        agent_id: "main",
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        usage: { input_tokens: 1000, output_tokens: 150, cached_input_tokens: 300, cache_creation_input_tokens: 100 },
      });
    }
    const parented = calls.map((c) => ({ ...c, parentSpanId: usage.spanId }));
    expect(spansToUsage([usage, ...parented]).usage.map((u) => u.span)).toEqual([usage]);
  });

  it("does not count OpenClaw's model calls under their GenAI span name either", () => {
    const { usage, call } = openClawRun();
    const result = spansToUsage([usage, call("chat claude-sonnet-4-5", 1000, 150)]);
    expect(result.usage.map((u) => u.span)).toEqual([usage]);
  });

  it("rejects a usage span whose text is not well-formed, naming the attribute; other spans go on", () => {
    const bad = chatNew(span("root", {}), 10, 1, { "user.id": "u\ud800" });
    bad.malformed = 'attributes["user.id"]';
    const good = chatNew(span("root", {}), 10, 1, { "user.id": "用户🧑‍💻" });
    const result = spansToUsage([bad, good]);
    expect(result.usage.map((u) => u.input.user_id)).toEqual(["用户🧑‍💻"]);
    expect(result.rejected).toEqual([
      { span: bad, reason: expect.stringContaining(`${bad.path}.attributes["user.id"]: must be well-formed Unicode`) },
    ]);
  });

  it("rejects a model call without token counts, with its place and the reason", () => {
    const call = span("chat", { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o" });
    const result = spansToUsage([call]);
    expect(result.usage).toEqual([]);
    expect(result.rejected).toEqual([{ span: call, reason: expect.stringMatching(/spans\[\d+\].*no token usage/) }]);
  });

  it("survives parent cycles and spans of other traces", () => {
    const a = span("a", { "gen_ai.usage.input_tokens": 1 });
    const b = span("b", { "gen_ai.usage.input_tokens": 1 }, a);
    a.parentSpanId = b.spanId; // a cycle: each is the other's parent
    const other = { ...chatNew(span("x", {}), 1, 1), traceId: "ffffffffffffffffffffffffffffffff" };
    const result = spansToUsage([a, b, other]);
    expect(result.usage.map((u) => u.span)).toEqual([other]);
  });
});
