#!/usr/bin/env bash
# A local Redis Cluster for development, the test suite and the failover drill: 3 primaries with one replica
# each (6 nodes, so a primary can fail over), bound to 127.0.0.1, on ports $PB_REDIS_CLUSTER_PORT..+5
# (default 7001-7006), data under $PB_SERVICES_DIR/redis-cluster/<port> (never the single Redis's 6379 or
# its data). Installs redis-server from Debian when missing. Idempotent: `start` on a running, formed cluster
# is a no-op, and starts only the nodes that are down (e.g. a primary the drill killed, which rejoins as a
# replica).
#
#   scripts/redis-cluster.sh start|stop|restart|status|nodes
#   (also: scripts/services.sh start-redis-cluster|stop-redis-cluster|restart-redis-cluster|status-redis-cluster)
#   restart: every node stopped (SIGTERM: AOF flushed) then started; returns once the cluster is ok again
#   (`PB_REDIS_CLUSTER=1 npm run chaos`, drill 3).
#
# Settings chosen for a quick, safe failover (docs/OPERATIONS.md, "Redis Cluster"):
#   cluster-node-timeout 2000        a primary unreachable for 2 s is failed over (about 3 s end to end)
#   cluster-replica-validity-factor 0  a replica may always take over, however long it was cut off
#   cluster-require-full-coverage no   while one primary fails over, the other primaries' slots keep serving
#   appendonly yes, appendfsync everysec  as the single Redis: a restarted node keeps its data
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${PB_SERVICES_DIR:-$root/.services}/redis-cluster"
base="${PB_REDIS_CLUSTER_PORT:-7001}"
ports=()
for i in 0 1 2 3 4 5; do ports+=($((base + i))); done

log() { printf '[redis-cluster] %s\n' "$*" >&2; }

install_missing() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  log "installing redis-server from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the package's own init script from starting a system-wide instance.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
node_up() { cli "$1" ping 2>/dev/null | grep -q PONG; }
cluster_ok() { cli "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }
known_nodes() { cli "$1" cluster info 2>/dev/null | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p'; }

start_node() { # port [data dir, default $dir/<port>]
  local port=$1 d="${2:-$dir/$1}"
  if node_up "$port"; then return 0; fi
  mkdir -p "$d"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --protected-mode yes \
    --dir "$d" --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 --cluster-require-full-coverage no \
    --appendonly yes --appendfsync everysec --save ''
  local start=$SECONDS
  until node_up "$port"; do
    if (( SECONDS - start >= 20 )); then log "node $port did not answer in 20s (see $d/redis.log)"; return 1; fi
    sleep 0.2
  done
  log "node $port up"
}

# Every node's CLUSTER SLOTS lists a replica beside each primary. `cluster_state:ok` comes as soon as the slots
# are covered, seconds before that: Redis lists a replica there only once it has synced, and a client (ioredis,
# the doctor) reads its topology from it, so a test or a drill started earlier sees primaries only.
replicas_ok() {
  local p
  for p in "${ports[@]}"; do
    [ "$(cli "$p" cluster slots 2>/dev/null | grep -c '^127\.0\.0\.1$')" -ge 6 ] || return 1
  done
}

all_ok() {
  for p in "${ports[@]}"; do cluster_ok "$p" || return 1; done
  replicas_ok
}

start() {
  install_missing
  for p in "${ports[@]}"; do start_node "$p"; done
  form_and_wait
}

form_and_wait() {
  # Formed already (a node sees the other five): a restarted node rejoins by itself from its nodes.conf.
  if [ "$(known_nodes "${ports[0]}")" != "6" ]; then
    local addrs=()
    for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
    log "forming the cluster: 3 primaries, 1 replica each"
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  local start=$SECONDS
  until all_ok; do
    if (( SECONDS - start >= 60 )); then log "cluster not ok after 60s"; status; return 1; fi
    sleep 0.3
  done
  log "cluster ok on 127.0.0.1:${ports[0]}-${ports[5]} (redis.cluster.nodes: 127.0.0.1:${ports[0]}, :${ports[1]}, :${ports[2]})"
}

stop() {
  for p in "${ports[@]}"; do
    local f="$dir/$p/redis.pid"
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "node $p stopped (pid $pid)"
    fi
    rm -f "$f"
  done
}

# Every running node stopped (SIGTERM: AOF flushed) and started again from ITS OWN data directory and pid, read
# from the node (CONFIG GET dir, INFO server), not from this checkout's $dir: a cluster started from another
# checkout (the main one, while a drill runs from a worktree) has no pid files here, and a restart that went by
# them stopped nothing and started nothing (drill 3 timed a restart that never happened).
restart() {
  install_missing
  local -A dirs=()
  local p d pid
  for p in "${ports[@]}"; do
    dirs[$p]="$dir/$p"
    node_up "$p" || continue
    d=$(cli "$p" config get dir 2>/dev/null | sed -n 2p | tr -d '\r')
    pid=$(cli "$p" info server 2>/dev/null | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    [ -n "$d" ] && dirs[$p]="$d"
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "${dirs[$p]}/redis.pid"
    log "node $p stopped (pid $pid, data ${dirs[$p]})"
  done
  for p in "${ports[@]}"; do start_node "$p" "${dirs[$p]}"; done
  form_and_wait
}

status() {
  for p in "${ports[@]}"; do
    if node_up "$p"; then
      log "node $p up, $(cli "$p" cluster info | sed -n 's/^cluster_state:\(.*\)\r*$/cluster_state:\1/p' | tr -d '\r'), role $(cli "$p" role | head -1)"
    else
      log "node $p down"
    fi
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) status ;;
  # The cluster's view of itself (CLUSTER NODES), from the first node that answers.
  nodes) for p in "${ports[@]}"; do if node_up "$p"; then cli "$p" cluster nodes; exit 0; fi; done; exit 1 ;;
  *) echo "usage: $0 start|stop|restart|status|nodes" >&2; exit 2 ;;
esac
