-- Budget definitions, durable across Redis flushes and restarts (Redis holds
-- only the counters). Each write is a new row with a higher version; a
-- deletion is a row with deleted = 1. Read with FINAL. The definition is the
-- validated JSON of the budget; the API and every service parse it with the
-- same schema.
CREATE TABLE IF NOT EXISTS budgets (
  id String,
  definition String,
  deleted UInt8,
  version UInt64,
  updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
