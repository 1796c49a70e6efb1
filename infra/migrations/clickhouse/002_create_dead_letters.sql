-- What could not be accepted or processed, with the reason, when the bus is
-- in-process (embedded mode). In distributed mode the same records go to the
-- tollgate.usage.dlq.v1 topic.
CREATE TABLE IF NOT EXISTS dead_letters (
  received_at DateTime,
  stage String,
  reason String,
  errors String,
  payload String,
  key_id String
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY received_at;
