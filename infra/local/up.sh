#!/usr/bin/env bash
# Starts the engines Tollgate's distributed mode and its tests need, without
# Docker: Redis, a Redis Cluster of three masters, a private ClickHouse
# server, a Kafka-protocol broker (the librdkafka mock cluster), then applies
# the ClickHouse migrations.
# Idempotent: what already runs is reused. Addresses land in
# .tollgate/infra/env (sourceable). Stop everything with infra/local/down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$STATE"
started=$(date +%s)

# --- Redis: the machine's own when it answers, else a private one.
if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  REDIS_URL="redis://127.0.0.1:6379"
  log "redis: using the server on 127.0.0.1:6379"
else
  ensure_packages redis-server redis-tools
  if ! alive "$STATE/redis.pid"; then
    log "redis: starting a private server on 127.0.0.1:$PRIVATE_REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$PRIVATE_REDIS_PORT" --save '' --appendonly no \
      --daemonize yes --pidfile "$STATE/redis.pid" --dir "$STATE" --logfile "$STATE/redis.log"
  fi
  wait_for "redis-cli -p $PRIVATE_REDIS_PORT ping | grep -q PONG" 20 || { log "redis did not start"; exit 1; }
  REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT"
fi

# --- Redis Cluster: three masters on loopback, no replicas, no persistence.
ensure_packages redis-server redis-tools
# Every node is asked: a dead node is noticed by the others only after the
# cluster node timeout (15 s), so one healthy answer proves little.
cluster_ok() {
  local port
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}
if cluster_ok; then
  log "redis cluster: already ok on ports ${CLUSTER_PORTS[*]}"
else
  cluster_nodes=()
  for port in "${CLUSTER_PORTS[@]}"; do
    dir="$STATE/redis-cluster/$port"
    if ! alive "$dir/redis.pid"; then
      # A stopped node's nodes.conf still names its old cluster, and it would
      # refuse to join a new one: a node that is not running starts afresh.
      rm -rf "$dir" && mkdir -p "$dir"
      log "redis cluster: starting node 127.0.0.1:$port"
      (cd "$dir" && redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file nodes.conf --save '' --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log")
    fi
    wait_for "redis-cli -p $port ping | grep -q PONG" 20 || { log "redis cluster node $port did not start"; exit 1; }
    cluster_nodes+=("127.0.0.1:$port")
  done
  # A cluster still converging (slots assigned) gets a few seconds; one that
  # stays broken (a node died and came back empty) is reset and created anew:
  # it holds no data worth keeping (no persistence).
  slots_assigned() { redis-cli -p "$1" cluster info | grep -q 'cluster_slots_assigned:[1-9]'; }
  converging=0
  for port in "${CLUSTER_PORTS[@]}"; do slots_assigned "$port" && converging=1; done
  if [ "$converging" = 0 ] || ! wait_for cluster_ok 5; then
    for port in "${CLUSTER_PORTS[@]}"; do
      redis-cli -p "$port" flushall >/dev/null
      redis-cli -p "$port" cluster reset hard >/dev/null
    done
    log "redis cluster: creating from ${cluster_nodes[*]}"
    echo yes | redis-cli --cluster create "${cluster_nodes[@]}" --cluster-replicas 0 >"$STATE/redis-cluster/create.log" 2>&1 || {
      log "redis cluster create failed:"; cat "$STATE/redis-cluster/create.log" >&2; exit 1; }
    wait_for cluster_ok 30 || { log "redis cluster did not reach cluster_state:ok"; redis-cli -p "${CLUSTER_PORTS[0]}" cluster info >&2; exit 1; }
  fi
fi
REDIS_CLUSTER_URL="redis+cluster://$(printf '127.0.0.1:%s,' "${CLUSTER_PORTS[@]}" | sed 's/,$//')"

# --- ClickHouse: Debian's 18.16 server with a private config.
ensure_packages clickhouse-server clickhouse-client curl
ch_ping() { curl -sf "http://127.0.0.1:$CH_HTTP_PORT/ping" >/dev/null; }
if ! ch_ping; then
  mkdir -p "$STATE/clickhouse/"{data,tmp,user_files,format_schemas,log,etc}
  sed -e "s#__STATE__#$STATE#g" -e "s#__HTTP_PORT__#$CH_HTTP_PORT#g" -e "s#__TCP_PORT__#$CH_TCP_PORT#g" \
    "$REPO_ROOT/infra/local/clickhouse/config.xml.template" >"$STATE/clickhouse/etc/config.xml"
  cp "$REPO_ROOT/infra/local/clickhouse/users.xml" "$STATE/clickhouse/etc/users.xml"
  log "clickhouse: starting on 127.0.0.1:$CH_HTTP_PORT"
  clickhouse-server --config-file="$STATE/clickhouse/etc/config.xml" --pid-file="$STATE/clickhouse.pid" --daemon
  if ! wait_for ch_ping 60; then
    log "clickhouse did not answer within 60 s; its error log says:"
    tail -n 30 "$STATE/clickhouse/log/server.err.log" >&2 || true
    exit 1
  fi
else
  log "clickhouse: already answering on 127.0.0.1:$CH_HTTP_PORT"
fi
CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP_PORT"

# --- Kafka-protocol broker: the librdkafka mock cluster, built from source here.
ensure_packages librdkafka-dev gcc libc6-dev
BROKER_BIN="$STATE/mock-broker"
BROKER_SRC="$REPO_ROOT/infra/local/mock-broker/launcher.c"
if [ ! -x "$BROKER_BIN" ] || [ "$BROKER_SRC" -nt "$BROKER_BIN" ]; then
  log "broker: compiling the mock-cluster launcher"
  gcc -O2 -Wall -o "$BROKER_BIN" "$BROKER_SRC" -lrdkafka
fi
if ! alive "$STATE/broker.pid"; then
  rm -f "$STATE/bootstrap"
  log "broker: starting"
  setsid "$BROKER_BIN" --topic tollgate.usage.v1:6 --topic tollgate.usage.dlq.v1:3 --topic tollgate.alerts.v1:1 \
    --bootstrap-file "$STATE/bootstrap" --control-fifo "$STATE/broker.ctl" \
    </dev/null >"$STATE/broker.log" 2>&1 &
  echo $! >"$STATE/broker.pid"
  wait_for "test -s '$STATE/bootstrap'" 20 || { log "broker did not start:"; cat "$STATE/broker.log" >&2; exit 1; }
else
  log "broker: already running"
fi
KAFKA_BROKERS="$(cat "$STATE/bootstrap")"

cat >"$STATE/env" <<ENV
export REDIS_URL=$REDIS_URL
export REDIS_CLUSTER_URL=$REDIS_CLUSTER_URL
export CLICKHOUSE_URL=$CLICKHOUSE_URL
export KAFKA_BROKERS=$KAFKA_BROKERS
export TOLLGATE_BROKER_CTL=$STATE/broker.ctl
export TOLLGATE_MOCK_BROKER_BIN=$BROKER_BIN
ENV

# --- Schema of the shared database (tests make their own databases too).
if [ -d "$REPO_ROOT/node_modules" ]; then
  (cd "$REPO_ROOT" && CLICKHOUSE_URL="$CLICKHOUSE_URL" node --import tsx infra/migrate.ts >&2)
fi

log "ready in $(($(date +%s) - started)) s: redis $REDIS_URL, redis cluster $REDIS_CLUSTER_URL, clickhouse $CLICKHOUSE_URL, kafka $KAFKA_BROKERS"
log "use them with: source $STATE/env"
