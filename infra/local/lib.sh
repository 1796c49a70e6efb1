# Shared by up.sh, down.sh and test-all.sh. Sourced, not run.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${TOLLGATE_INFRA_STATE:-$REPO_ROOT/.tollgate/infra}"
CH_HTTP_PORT="${TOLLGATE_CH_HTTP_PORT:-18123}"
CH_TCP_PORT="${TOLLGATE_CH_TCP_PORT:-19000}"
PRIVATE_REDIS_PORT="${TOLLGATE_PRIVATE_REDIS_PORT:-16379}"
# The three masters of the local Redis Cluster (distributed mode scales out on one).
CLUSTER_PORTS=(${TOLLGATE_CLUSTER_PORTS:-17001 17002 17003})

log() { printf '[infra] %s\n' "$*" >&2; }

# Installs Debian packages that are missing (apt-get update once per run).
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ -z "${TOLLGATE_APT_UPDATED:-}" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    export TOLLGATE_APT_UPDATED=1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# True when the process in pidfile $1 is alive.
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
  local what="$1" seconds="$2" i
  for ((i = 0; i < seconds * 10; i++)); do
    if eval "$what" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Stops the process of pidfile $1 (TERM, then KILL after 10 s).
stop_pidfile() {
  local pidfile="$1" name="$2" pid i
  if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  pid="$(cat "$pidfile")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
