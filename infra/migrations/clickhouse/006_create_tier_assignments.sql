-- Tier assignments: which tier each user carries, for tier budgets.
-- Same shape as budgets: each write a new row with a higher version, a
-- deletion a row with deleted = 1, read with FINAL.
CREATE TABLE IF NOT EXISTS tier_assignments (
  id String,
  definition String,
  deleted UInt8,
  version UInt64,
  updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
