-- Usage per hour (UTC) and per org, team, project, user, agent, model, feature
-- and task type: what chargeback, spend and unit-economics reports read
-- instead of the raw events. SummingMergeTree adds rows with the same key
-- together as parts merge; queries still sum(), so unmerged parts are fine.
-- Exact because the sink never inserts an event twice (usage_event_ids).
--
-- Sorting key: org first (every query is one org's), then project (the
-- chargeback unit, most reports filter or group by it), then time (ranges
-- within a project read a contiguous slice), then the finer dimensions.
-- Partitioned by month like the raw table: a month's chargeback reads one
-- partition. Hours and days are the server's time zone, UTC in every setup
-- this project ships (infra/local config, docker-compose image default).
CREATE TABLE IF NOT EXISTS usage_hourly (
  hour DateTime,
  org_id String,
  team_id String,
  project_id String,
  user_id String,
  agent_id String,
  model String,
  feature String,
  task_type String,
  requests UInt64,
  input_tokens UInt64,
  output_tokens UInt64,
  total_tokens UInt64,
  cached_input_tokens UInt64,
  reasoning_tokens UInt64,
  cost_micro_usd UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, project_id, hour, team_id, user_id, agent_id, model, feature, task_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly
AS SELECT
  toStartOfHour(timestamp) AS hour,
  org_id, team_id, project_id, user_id, agent_id, model, feature, task_type,
  count() AS requests,
  sum(input_tokens) AS input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(total_tokens) AS total_tokens,
  sum(cached_input_tokens) AS cached_input_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  sum(cost_micro_usd) AS cost_micro_usd
FROM usage_events
GROUP BY hour, org_id, team_id, project_id, user_id, agent_id, model, feature, task_type;

-- Rows stored before this migration (FINAL: duplicates collapsed).
INSERT INTO usage_hourly
SELECT
  toStartOfHour(timestamp) AS hour,
  org_id, team_id, project_id, user_id, agent_id, model, feature, task_type,
  count() AS requests,
  sum(input_tokens) AS input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(total_tokens) AS total_tokens,
  sum(cached_input_tokens) AS cached_input_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  sum(cost_micro_usd) AS cost_micro_usd
FROM usage_events FINAL
GROUP BY hour, org_id, team_id, project_id, user_id, agent_id, model, feature, task_type;
