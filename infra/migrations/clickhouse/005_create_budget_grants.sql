-- Grants: temporary top-ups of budgets (see packages/budgets/src/grants.ts).
-- Same shape as budgets: each write a new row with a higher version, a
-- deletion a row with deleted = 1, read with FINAL.
CREATE TABLE IF NOT EXISTS budget_grants (
  id String,
  definition String,
  deleted UInt8,
  version UInt64,
  updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
