import { describe, expect, it } from "vitest";
import { type NormalizeContext, normalizeSpanEvent, normalizeUsageEvent } from "./normalize";

const NOW = Date.parse("2026-02-18T10:05:00Z");
const ctx: NormalizeContext = { nowMs: NOW, source: "json" };

// The ClawTrace-style payload of ARCHITECTURE.md, as agents send it.
const clawTrace = {
  event_id: "evt_001",
  timestamp: "2026-02-18T10:00:00Z",
  trace_id: "tr_9912",
  project_id: "q1_analysis_fleet",
  user_id: "user_active_88",
  agent_id: "market-researcher-01",
  model: "gpt-4o",
  usage: { prompt_tokens: 1040, completion_tokens: 450, total_tokens: 1490, cached_tokens: 0, reasoning_tokens: 0 },
};

function accept(raw: unknown, context: NormalizeContext = ctx) {
  const result = normalizeUsageEvent(raw, context);
  if (!result.ok) throw new Error(`rejected: ${JSON.stringify(result.errors)}`);
  return result.event;
}

function reject(raw: unknown, context: NormalizeContext = ctx) {
  const result = normalizeUsageEvent(raw, context);
  if (result.ok) throw new Error("accepted but should not be");
  return result.errors;
}

describe("normalizeUsageEvent", () => {
  it("accepts the ClawTrace payload as is", () => {
    const event = accept(clawTrace);
    expect(event).toMatchObject({
      event_id: "evt_001",
      timestamp_ms: Date.parse("2026-02-18T10:00:00Z"),
      received_at_ms: NOW,
      trace_id: "tr_9912",
      span_id: null,
      org_id: null,
      project_id: "q1_analysis_fleet",
      user_id: "user_active_88",
      agent_id: "market-researcher-01",
      model: "gpt-4o",
      input_tokens: 1040,
      output_tokens: 450,
      total_tokens: 1490,
      cached_input_tokens: 0,
      reasoning_tokens: 0,
      status: "ok",
      source: "json",
      cost_source: "unknown",
      cost_micro_usd: 0,
    });
  });

  it("treats input_tokens/output_tokens as synonyms of prompt/completion tokens", () => {
    const event = accept({ ...clawTrace, usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 4 } });
    expect([event.input_tokens, event.output_tokens, event.total_tokens, event.cached_input_tokens]).toEqual([
      10, 5, 15, 4,
    ]);
  });

  it("reads OpenAI's nested usage details", () => {
    const event = accept({
      ...clawTrace,
      usage: {
        prompt_tokens: 100,
        completion_tokens: 50,
        prompt_tokens_details: { cached_tokens: 60 },
        completion_tokens_details: { reasoning_tokens: 20 },
      },
    });
    expect([event.cached_input_tokens, event.reasoning_tokens]).toEqual([60, 20]);
  });

  it("rejects synonyms that disagree, naming both fields", () => {
    const errors = reject({ ...clawTrace, usage: { prompt_tokens: 10, input_tokens: 11, output_tokens: 1 } });
    expect(errors).toEqual([
      { path: "usage.prompt_tokens", message: "is 10 but usage.input_tokens is 11; synonyms must agree" },
    ]);
  });

  it("reports every invalid field with its path", () => {
    const errors = reject({
      ...clawTrace,
      user_id: "",
      timestamp: "yesterday",
      usage: { prompt_tokens: -1, completion_tokens: 1.5 },
      status: "maybe",
    });
    const paths = errors.map((e) => e.path).sort();
    expect(paths).toEqual(["status", "timestamp", "usage.completion_tokens", "usage.prompt_tokens", "user_id"]);
    expect(errors.find((e) => e.path === "usage.prompt_tokens")?.message).toBe("must be ≥ 0");
    expect(errors.find((e) => e.path === "usage.completion_tokens")?.message).toBe(
      "must be an integer number of tokens",
    );
  });

  it("rejects a non-object, a missing model and missing usage clearly", () => {
    expect(reject("hello")).toEqual([{ path: "(root)", message: "must be a JSON object" }]);
    const errors = reject({ project_id: "p", user_id: "u", agent_id: "a" });
    expect(errors.map((e) => e.path).sort()).toEqual(["model", "usage"]);
  });

  it("fills missing tags from the key's defaults; explicit tags win", () => {
    const { user_id: _omitted, ...withoutUser } = clawTrace;
    const event = accept(withoutUser, {
      ...ctx,
      defaults: { user_id: "svc-user", project_id: "default-project", org_id: "acme" },
      keyId: "key_1",
    });
    expect([event.user_id, event.project_id, event.org_id, event.key_id]).toEqual([
      "svc-user",
      "q1_analysis_fleet",
      "acme",
      "key_1",
    ]);
  });

  it("rejects an event still missing a required tag", () => {
    const { agent_id: _a, user_id: _u, ...rest } = clawTrace;
    const errors = reject(rest);
    expect(errors.map((e) => e.path)).toEqual(["user_id", "agent_id"]);
    expect(errors[0]?.message).toMatch(/required/);
  });

  it("checks the token arithmetic", () => {
    expect(reject({ ...clawTrace, usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 3 } })[0]?.path).toBe(
      "usage.total_tokens",
    );
    expect(reject({ ...clawTrace, usage: { prompt_tokens: 1, completion_tokens: 1, cached_tokens: 2 } })[0]?.path).toBe(
      "usage.cached_tokens",
    );
    expect(
      reject({ ...clawTrace, usage: { prompt_tokens: 1, completion_tokens: 1, reasoning_tokens: 2 } })[0]?.path,
    ).toBe("usage.reasoning_tokens");
    expect(reject({ ...clawTrace, usage: { total_tokens: 3 } })[0]?.path).toBe("usage");
  });

  it("keeps a reported cost exactly in micro-USD", () => {
    expect(accept({ ...clawTrace, cost_usd: 0.0071 }).cost_micro_usd).toBe(7100);
    expect(accept({ ...clawTrace, cost_usd: "12.3456785" })).toMatchObject({
      cost_micro_usd: 12_345_679,
      cost_source: "reported",
    });
    expect(reject({ ...clawTrace, cost_usd: -1 })[0]?.path).toBe("cost_usd");
  });

  it("prices an event without a reported cost, flags estimates, and says when it cannot", () => {
    const price = (model: string) =>
      model === "gpt-4o"
        ? { cost_micro_usd: 7100, estimated: false }
        : model === "gpt-4o-2099-01-01"
          ? { cost_micro_usd: 7100, estimated: true }
          : null;
    expect(accept(clawTrace, { ...ctx, price })).toMatchObject({ cost_micro_usd: 7100, cost_source: "priced" });
    expect(accept({ ...clawTrace, model: "gpt-4o-2099-01-01" }, { ...ctx, price })).toMatchObject({
      cost_micro_usd: 7100,
      cost_source: "estimated",
    });
    expect(accept({ ...clawTrace, model: "mystery" }, { ...ctx, price })).toMatchObject({
      cost_micro_usd: 0,
      cost_source: "unknown",
    });
  });

  it("accepts epoch milliseconds, defaults to now, refuses the far future", () => {
    expect(accept({ ...clawTrace, timestamp: 1_700_000_000_000 }).timestamp_ms).toBe(1_700_000_000_000);
    expect(accept({ ...clawTrace, timestamp: undefined }).timestamp_ms).toBe(NOW);
    expect(reject({ ...clawTrace, timestamp: "2026-02-18T12:00:00Z" })).toEqual([
      { path: "timestamp", message: "is more than one hour in the future" },
    ]);
  });
});

describe("normalizeSpanEvent (what the OTLP mapping hands over)", () => {
  const span = {
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    span_id: "b7ad6b7169203331",
    timestamp: Date.parse("2026-02-18T10:00:00Z"),
    project_id: " p1 ",
    user_id: "u1",
    agent_id: "a1",
    model: "gpt-4o",
    usage: { input_tokens: 1040, output_tokens: 450, cached_input_tokens: 40, reasoning_tokens: 10 },
    status: "ok",
  };

  it("makes the same event as the JSON API does of the same fields", () => {
    const viaSpan = normalizeSpanEvent(span, { ...ctx, source: "otlp" });
    const viaJson = normalizeUsageEvent(span, { ...ctx, source: "otlp" });
    expect(viaSpan.ok && viaSpan.event).toEqual(viaJson.ok && viaJson.event);
    expect(viaSpan).toMatchObject({
      ok: true,
      event: {
        project_id: "p1",
        input_tokens: 1040,
        cached_input_tokens: 40,
        reasoning_tokens: 10,
        total_tokens: 1490,
      },
    });
    // Derived from trace and span id, as for JSON events that carry them.
    expect(viaSpan.ok && viaSpan.event.event_id).toMatch(/^sp_[0-9a-f]{32}$/);
  });

  it("holds spans to the same rules, with the field's path", () => {
    const bad = normalizeSpanEvent({ ...span, usage: { input_tokens: 1.5, output_tokens: -1 } }, ctx);
    expect(!bad.ok && bad.errors.map((e) => e.path).sort()).toEqual(["usage.input_tokens", "usage.output_tokens"]);
    const late = normalizeSpanEvent({ ...span, timestamp: NOW + 2 * 60 * 60 * 1000 }, ctx);
    expect(!late.ok && late.errors).toEqual([{ path: "timestamp", message: "is more than one hour in the future" }]);
    const overCached = normalizeSpanEvent({ ...span, usage: { input_tokens: 10, cached_input_tokens: 11 } }, ctx);
    expect(!overCached.ok && overCached.errors.map((e) => e.path)).toEqual(["usage.cached_input_tokens"]);
    const untagged = normalizeSpanEvent({ ...span, user_id: undefined }, ctx);
    expect(!untagged.ok && untagged.errors.map((e) => e.path)).toEqual(["user_id"]);
  });

  it("reads only the canonical token fields: the mapping has already chosen among the conventions' names", () => {
    const legacy = normalizeSpanEvent({ ...span, usage: { prompt_tokens: 10, completion_tokens: 5 } }, ctx);
    expect(!legacy.ok && legacy.errors.map((e) => e.path)).toEqual(["usage"]);
  });
});
