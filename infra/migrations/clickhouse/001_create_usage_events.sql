-- One row per usage event. Money is integer micro-USD; tokens are integers.
-- Written on ClickHouse 18.16 (these machines), chDB and current servers, so
-- only types 18.16 knows: DateTime (seconds) plus the exact timestamp_ms.
--
-- Deduplicated by event_id: ReplacingMergeTree collapses rows with the same
-- sorting key, so the key ends in event_id and holds nothing a retried report
-- could change (a retry without an explicit timestamp gets a new one).
-- Queries that must not count a duplicate read with FINAL until merges ran.
-- Partitioned by month: chargeback and time-range reports prune partitions.
CREATE TABLE IF NOT EXISTS usage_events (
  event_id String,
  timestamp DateTime,
  timestamp_ms UInt64,
  received_at DateTime,
  org_id String,
  team_id String,
  project_id String,
  user_id String,
  agent_id String,
  session_id String,
  feature String,
  task_type String,
  provider String,
  model String,
  trace_id String,
  span_id String,
  input_tokens UInt64,
  output_tokens UInt64,
  total_tokens UInt64,
  cached_input_tokens UInt64,
  cache_creation_input_tokens UInt64,
  reasoning_tokens UInt64,
  cost_micro_usd UInt64,
  cost_source String,
  reservation_id String,
  status String,
  source String,
  key_id String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(timestamp)
ORDER BY (org_id, project_id, user_id, event_id);
