/**
 * The internal shape of one usage event, after validation and normalisation.
 * Every later hop (Avro on Kafka, Redis counters, ClickHouse rows) carries
 * exactly these fields, whatever shape the agent sent.
 *
 * Token convention (OpenAI's): cached_input_tokens (cache reads) and
 * cache_creation_input_tokens (cache writes) are part of input_tokens;
 * reasoning_tokens are part of output_tokens. total_tokens = input + output.
 * Money is integer micro-USD.
 */
export const COST_SOURCES = ["reported", "priced", "estimated", "unknown"] as const;
export type CostSource = (typeof COST_SOURCES)[number];

/**
 * Where an event came from: a JSON report, an OTLP span, or Tollgate itself
 * charging a reservation that expired without being settled or released
 * (its usage the reservation's estimate, `cost_source` "estimated").
 */
export const EVENT_SOURCES = ["json", "otlp", "unsettled"] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export interface UsageEvent {
  event_id: string;
  /** When the inference happened, epoch milliseconds. */
  timestamp_ms: number;
  /** When Tollgate received the report, epoch milliseconds. */
  received_at_ms: number;
  trace_id: string | null;
  span_id: string | null;
  org_id: string | null;
  team_id: string | null;
  project_id: string;
  user_id: string;
  agent_id: string;
  session_id: string | null;
  feature: string | null;
  task_type: string | null;
  provider: string | null;
  model: string;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cached_input_tokens: number;
  cache_creation_input_tokens: number;
  reasoning_tokens: number;
  cost_micro_usd: number;
  cost_source: CostSource;
  reservation_id: string | null;
  status: "ok" | "error";
  source: EventSource;
  /** Id of the API key that reported the event (not the secret). */
  key_id: string | null;
}

/** Tags an API key may carry to fill in what an event leaves out. */
export const DEFAULT_TAG_FIELDS = [
  "org_id",
  "team_id",
  "project_id",
  "user_id",
  "agent_id",
  "session_id",
  "feature",
  "task_type",
] as const;
export type DefaultTagField = (typeof DEFAULT_TAG_FIELDS)[number];
export type DefaultTags = Partial<Record<DefaultTagField, string>>;
