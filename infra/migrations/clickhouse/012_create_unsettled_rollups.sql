-- Unsettled charges apart: a reservation that expired without a report is
-- charged as its estimate by a usage event with source 'unsettled', counted
-- in usage_hourly and usage_daily like any other. These two tables hold, per
-- the same key, how much of that came from such charges, so the spend and
-- top reports (and the console) can tell estimates from reported usage.
--
-- Tables of their own rather than columns added to the rollups: the
-- rollups' views would have to be dropped and created again to fill new
-- columns (ClickHouse before 21 fills no defaults when a view pushes), and
-- an event inserted in between would be missing from them for good.
-- Unsettled charges are rare, so these stay small. Charges stored before
-- this migration are in the totals but not split out.
CREATE TABLE IF NOT EXISTS usage_hourly_unsettled (
  hour DateTime,
  org_id String,
  team_id String,
  project_id String,
  user_id String,
  agent_id String,
  model String,
  feature String,
  task_type String,
  unsettled_requests UInt64,
  unsettled_cost_micro_usd UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (org_id, project_id, hour, team_id, user_id, agent_id, model, feature, task_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_unsettled_mv TO usage_hourly_unsettled
AS SELECT
  toStartOfHour(timestamp) AS hour,
  org_id, team_id, project_id, user_id, agent_id, model, feature, task_type,
  count() AS unsettled_requests,
  sum(cost_micro_usd) AS unsettled_cost_micro_usd
FROM usage_events
WHERE source = 'unsettled'
GROUP BY hour, org_id, team_id, project_id, user_id, agent_id, model, feature, task_type;

CREATE TABLE IF NOT EXISTS usage_daily_unsettled (
  day Date,
  org_id String,
  team_id String,
  project_id String,
  user_id String,
  agent_id String,
  model String,
  feature String,
  task_type String,
  unsettled_requests UInt64,
  unsettled_cost_micro_usd UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, project_id, day, team_id, user_id, agent_id, model, feature, task_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_unsettled_mv TO usage_daily_unsettled
AS SELECT
  toDate(timestamp) AS day,
  org_id, team_id, project_id, user_id, agent_id, model, feature, task_type,
  count() AS unsettled_requests,
  sum(cost_micro_usd) AS unsettled_cost_micro_usd
FROM usage_events
WHERE source = 'unsettled'
GROUP BY day, org_id, team_id, project_id, user_id, agent_id, model, feature, task_type;
