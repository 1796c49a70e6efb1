import { describe, expect, it } from "vitest";
import {
  decodeUsageEvent,
  decodeUsageEventWritten,
  encodeUsageEvent,
  encodeWithEarlierSchema,
  READABLE_FINGERPRINTS,
  USAGE_EVENT_FINGERPRINT,
  usageEventType,
} from "./avro";
import type { UsageEvent } from "./usage-event";

const event: UsageEvent = {
  event_id: "evt_1",
  timestamp_ms: 1_771_408_800_000,
  received_at_ms: 1_771_408_801_234,
  trace_id: "tr_9912",
  span_id: null,
  org_id: "acme",
  team_id: null,
  project_id: "q1_analysis_fleet",
  user_id: "user_active_88",
  agent_id: "market-researcher-01",
  session_id: "s1",
  feature: null,
  task_type: "research_summary",
  provider: "openai",
  model: "gpt-4o",
  input_tokens: 1040,
  output_tokens: 450,
  total_tokens: 1490,
  cached_input_tokens: 0,
  cache_creation_input_tokens: 0,
  reasoning_tokens: 0,
  cost_micro_usd: 7100,
  cost_source: "priced",
  reservation_id: null,
  status: "ok",
  source: "json",
  key_id: "key_1",
};

describe("Avro encoding of usage events", () => {
  it("round-trips every field", () => {
    expect({ ...decodeUsageEvent(encodeUsageEvent(event)) }).toEqual(event);
  });

  it("has a stable SHA-256 fingerprint of the canonical schema", () => {
    expect(USAGE_EVENT_FINGERPRINT).toMatch(/^[0-9a-f]{64}$/);
    expect(USAGE_EVENT_FINGERPRINT).toBe(usageEventType.fingerprint("sha256").toString("hex"));
  });

  it("reads records written before an upgrade (an earlier schema, by its fingerprint), and no unknown one", () => {
    const earlier = encodeWithEarlierSchema(event);
    expect(earlier.fingerprint).not.toBe(USAGE_EVENT_FINGERPRINT);
    expect(READABLE_FINGERPRINTS).toEqual([USAGE_EVENT_FINGERPRINT, earlier.fingerprint]);
    expect({ ...decodeUsageEventWritten(earlier.fingerprint, earlier.buffer) }).toEqual(event);
    const unsettled = { ...event, source: "unsettled" as const, cost_source: "estimated" as const };
    expect({ ...decodeUsageEventWritten(USAGE_EVENT_FINGERPRINT, encodeUsageEvent(unsettled)) }).toEqual(unsettled);
    expect(() => decodeUsageEventWritten("f".repeat(64), earlier.buffer)).toThrow(/not one this consumer reads/);
    expect(() => decodeUsageEventWritten(undefined, earlier.buffer)).toThrow(/\(missing\)/);
  });

  it("refuses to encode an event that breaks the schema", () => {
    expect(() => encodeUsageEvent({ ...event, input_tokens: 1.5 })).toThrow();
    expect(() => encodeUsageEvent({ ...event, cost_source: "guessed" as never })).toThrow();
  });
});
