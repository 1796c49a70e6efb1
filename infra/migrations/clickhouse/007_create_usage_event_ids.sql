-- Every event_id the raw table has ever received, ordered by event_id so the
-- sink can ask "which of these ids are already stored?" with a primary-key
-- lookup before it inserts. Filled by a materialized view in the same INSERT
-- as the raw row, so the answer never lags the raw table: a batch replayed
-- after a crash finds its ids and is not inserted twice, which keeps the
-- rollups below (fed by views on the same INSERT) exact.
CREATE TABLE IF NOT EXISTS usage_event_ids (
  event_id String,
  timestamp DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(timestamp)
ORDER BY event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_event_ids_mv TO usage_event_ids
AS SELECT event_id, timestamp FROM usage_events;

-- Rows stored before this migration.
INSERT INTO usage_event_ids SELECT event_id, timestamp FROM usage_events;
