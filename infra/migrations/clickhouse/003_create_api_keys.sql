-- API keys, durable across Redis flushes and restarts. Only a hash of each
-- secret is stored. A revocation is a new row with a higher version;
-- read with FINAL.
CREATE TABLE IF NOT EXISTS api_keys (
  id String,
  secret_sha256 String,
  role String,
  name String,
  default_tags String,
  created_at DateTime,
  revoked UInt8,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
