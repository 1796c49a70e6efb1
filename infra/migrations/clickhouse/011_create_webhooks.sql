-- Webhook endpoints (packages/webhooks): the same shape as budgets — each
-- write a new row with a higher version, a deletion a row with deleted = 1,
-- read with FINAL. The definition JSON holds the signing secrets encrypted
-- (AES-256-GCM, see packages/webhooks/src/secrets.ts), never in clear.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id String,
  definition String,
  deleted UInt8,
  version UInt64,
  updated_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
-- The durable delivery schedule: one row per message and endpoint, rewritten
-- with a higher version at every state change (pending → delivered | failed).
-- The dispatcher reads the due pending rows back (also after a restart), so
-- nothing scheduled is lost with a process. Milliseconds as UInt64: the 18.16
-- server has no DateTime64.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id String,
  endpoint_id String,
  org_id String,
  message_id String,
  event_type String,
  payload String,
  state String,
  attempts UInt32,
  next_attempt_ms UInt64,
  created_ms UInt64,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (endpoint_id, id);
-- Every attempt, appended: time, HTTP status (0 when none), latency, error
-- and the first bytes of the response.
CREATE TABLE IF NOT EXISTS webhook_attempts (
  delivery_id String,
  endpoint_id String,
  attempt UInt32,
  at_ms UInt64,
  status UInt16,
  latency_ms UInt32,
  error String,
  response String
) ENGINE = MergeTree
ORDER BY (endpoint_id, delivery_id, at_ms);
