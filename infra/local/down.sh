#!/usr/bin/env bash
# Stops what infra/local/up.sh started (the machine's own Redis is left
# alone). Idempotent. --purge also deletes the engines' data.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_pidfile "$STATE/broker.pid" "broker"
stop_pidfile "$STATE/clickhouse.pid" "clickhouse"
stop_pidfile "$STATE/redis.pid" "private redis"
for port in "${CLUSTER_PORTS[@]}"; do
  stop_pidfile "$STATE/redis-cluster/$port/redis.pid" "redis cluster node $port"
done
rm -f "$STATE/env" "$STATE/bootstrap"
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$STATE"
  log "purged $STATE"
fi
