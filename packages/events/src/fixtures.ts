import type { UsageEvent } from "./usage-event";

/** A complete, valid normalised event for tests; override what a test is about. */
export function sampleUsageEvent(overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    event_id: "e1",
    timestamp_ms: Date.parse("2026-11-22T10:00:00Z"),
    received_at_ms: Date.parse("2026-11-22T10:00:01Z"),
    trace_id: null,
    span_id: null,
    org_id: "acme",
    team_id: null,
    project_id: "p1",
    user_id: "u1",
    agent_id: "a1",
    session_id: null,
    feature: null,
    task_type: null,
    provider: null,
    model: "gpt-4o",
    input_tokens: 100,
    output_tokens: 40,
    total_tokens: 140,
    cached_input_tokens: 0,
    cache_creation_input_tokens: 0,
    reasoning_tokens: 0,
    cost_micro_usd: 650,
    cost_source: "priced",
    reservation_id: null,
    status: "ok",
    source: "json",
    key_id: null,
    ...overrides,
  };
}
