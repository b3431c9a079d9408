#!/usr/bin/env bash
# A local 3-node RabbitMQ cluster for the cluster tests and the node-loss drill, beside (never instead of)
# the shared single node on 5672 that scripts/services.sh runs. Idempotent: `start` on a running cluster is
# a no-op, `start` after `stop` (or after a node was killed) brings the missing nodes back.
#
#   scripts/rabbit-cluster.sh start|stop|status|urls
#   scripts/rabbit-cluster.sh stop-node N | start-node N | kill-node N | ctl N <rabbitmqctl args...>
#
# Nodes pb-r1@localhost .. pb-r3@localhost, AMQP on 127.0.0.1:$PB_RABBIT_CLUSTER_PORT+0..2 (5681-5683),
# Erlang distribution on AMQP port + 20000 (25681-25683), data and logs under $PB_RABBIT_CLUSTER_DIR
# (default <repo>/.services/rabbit-cluster), one Erlang cookie of their own (HOME is that directory for the
# servers and for every rabbitmqctl call made here). No plugins (no management UI).
# `stop-node N` is `rabbitmqctl stop_app` (the Erlang VM stays up); `kill-node N` is SIGKILL of the node's VM;
# `start-node N` brings the node back after either (start_app, or a new VM that rejoins from its data).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cdir="${PB_RABBIT_CLUSTER_DIR:-${PB_SERVICES_DIR:-$root/.services}/rabbit-cluster}"
base_port="${PB_RABBIT_CLUSTER_PORT:-5681}"
nodes=(1 2 3)
mkdir -p "$cdir"

log() { printf '[rabbit-cluster] %s\n' "$*" >&2; }

node_name() { printf 'pb-r%s@localhost' "$1"; }
node_port() { printf '%s' $((base_port + $1 - 1)); }
node_dir() { printf '%s/pb-r%s' "$cdir" "$1"; }

server_bin() {
  local bin=/usr/lib/rabbitmq/bin/rabbitmq-server
  [ -x "$bin" ] || bin=$(command -v rabbitmq-server)
  printf '%s' "$bin"
}
ctl_bin() {
  local bin=/usr/lib/rabbitmq/bin/rabbitmqctl
  [ -x "$bin" ] || bin=$(command -v rabbitmqctl)
  printf '%s' "$bin"
}

cookie() {
  # One cookie for the three nodes and this script's CLI calls, never the shared node's ($HOME/.erlang.cookie).
  local file="$cdir/.erlang.cookie"
  if [ ! -s "$file" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' > "$file"
    chmod 400 "$file"
  fi
}

ctl() { # N args...: rabbitmqctl against node N with the cluster's cookie
  local n=$1; shift
  HOME="$cdir" "$(ctl_bin)" -q -n "$(node_name "$n")" "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

amqp_ready() { # port: the AMQP listener answers a protocol header with the server's start frame
  local port=$1
  port_open "$port" || return 1
  local reply
  reply=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'AMQP\x00\x00\x09\x01' >&3; timeout 2 head -c 8 <&3 | od -An -tx1 | tr -d ' \n') 2>/dev/null || return 1
  [ "${reply:0:6}" = "010000" ]
}

vm_alive() { # N: the node's Erlang VM answers (the app may be stopped)
  local pidfile; pidfile="$(node_dir "$1")/rabbitmq.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

launch() { # N
  local n=$1 d port
  d=$(node_dir "$n"); port=$(node_port "$n")
  mkdir -p "$d/log"
  printf '[].\n' > "$d/enabled_plugins"
  # pause_minority: a node cut off from the other two stops serving rather than diverging.
  printf 'listeners.tcp.default = 127.0.0.1:%s\ndisk_free_limit.absolute = 50MB\nloopback_users = none\ncluster_partition_handling = pause_minority\n' \
    "$port" > "$d/rabbitmq.conf"
  (
    export HOME="$cdir"
    export RABBITMQ_NODENAME; RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$port"
    export RABBITMQ_DIST_PORT=$((port + 20000))
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_MNESIA_BASE="$d/mnesia"
    export RABBITMQ_LOG_BASE="$d/log"
    export RABBITMQ_PID_FILE="$d/rabbitmq.pid"
    export RABBITMQ_CONFIG_FILE="$d/rabbitmq"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    unset RABBITMQ_ERLANG_COOKIE
    nohup "$(server_bin)" > "$d/stdout.log" 2>&1 &
    echo $! > "$d/launcher.pid"
  )
}

wait_port() { # N timeout_s
  local n=$1 limit=$2 start=$SECONDS port
  port=$(node_port "$n")
  until amqp_ready "$port"; do
    if (( SECONDS - start >= limit )); then log "$(node_name "$n") not ready on $port after ${limit}s (log: $(node_dir "$n")/log)"; return 1; fi
    sleep 0.3
  done
}

clustered() { # N: node N's cluster status lists pb-r1 among its members
  ctl "$1" cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name 1)\""
}

running_count() {
  ctl 1 cluster_status --formatter json 2>/dev/null | sed -n 's/.*"running_nodes":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | grep -c 'pb-r' || true
}

node_vm_pid() { # N: the pid of the Erlang VM on node N's AMQP port, or on its distribution port (all a VM whose app was stopped with stop_app still holds), whichever checkout started it (empty if none)
  local port pid p
  port=$(node_port "$1")
  if command -v ss >/dev/null 2>&1; then
    for p in "$port" $((port + 20000)); do
      pid=$(ss -ltnpH "sport = :$p" 2>/dev/null | sed -n 's/.*"beam[^"]*",pid=\([0-9]*\).*/\1/p' | head -n 1)
      [ -n "$pid" ] && break
    done
  fi
  if [ -z "${pid:-}" ]; then # no ss: the VM that was given this port in its environment
    for env in /proc/[0-9]*/environ; do
      if tr '\0' '\n' < "$env" 2>/dev/null | grep -qx "RABBITMQ_NODE_PORT=$port"; then
        pid=${env#/proc/}; pid=${pid%/environ}
        grep -q beam "/proc/$pid/cmdline" 2>/dev/null && break
        pid=
      fi
    done
  fi
  printf '%s' "${pid:-}"
}

stop_foreign_nodes() {
  # A node on our port that this checkout's cookie cannot reach was started from another checkout (another
  # clone's .services, since deleted or not): it would refuse the join below. Stop its VM so ours can start.
  # A VM whose app was stopped (stop_app, as the node drill does) answers no AMQP but still holds the
  # distribution port, where ours would fail to start: it counts too.
  local n pid
  for n in "${nodes[@]}"; do
    amqp_ready "$(node_port "$n")" || port_open $(($(node_port "$n") + 20000)) || continue
    ctl "$n" eval 'ok.' >/dev/null 2>&1 && continue
    pid=$(node_vm_pid "$n")
    if [ -z "$pid" ]; then log "$(node_name "$n"): port $(node_port "$n") answers but this checkout cannot reach the node, and no VM pid was found"; return 1; fi
    log "$(node_name "$n") on port $(node_port "$n") was started from another checkout (its Erlang cookie differs): stopping its VM (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$cdir/.joined"
  done
}

start_cluster() {
  cookie
  epmd -address 127.0.0.1 -daemon 2>/dev/null || true
  local started=$SECONDS n all=1
  for n in "${nodes[@]}"; do amqp_ready "$(node_port "$n")" || all=0; done
  # Every listener up and the nodes joined before: nothing to do (no slow CLI round trips).
  if [ "$all" = 1 ] && [ -f "$cdir/.joined" ]; then log "already running ($(urls | tr '\n' ' '))"; return 0; fi
  stop_foreign_nodes
  for n in "${nodes[@]}"; do
    if amqp_ready "$(node_port "$n")"; then continue; fi
    if vm_alive "$n"; then
      # stopped with stop_app: the VM is there, only the application is down.
      ctl "$n" start_app >/dev/null 2>&1 &
    else
      launch "$n"
    fi
  done
  # Started together: a node restarted after a stop waits for its peers' tables before it listens.
  for n in "${nodes[@]}"; do wait_port "$n" 180; done
  wait
  for n in 2 3; do
    if ! clustered "$n"; then
      log "joining $(node_name "$n") to $(node_name 1)"
      ctl "$n" stop_app >/dev/null
      ctl "$n" join_cluster "$(node_name 1)" >/dev/null
      ctl "$n" start_app >/dev/null
      wait_port "$n" 120
    fi
  done
  local limit=$((SECONDS + 60))
  until [ "$(running_count)" -ge 3 ]; do
    if (( SECONDS >= limit )); then log "cluster did not report 3 running nodes"; ctl 1 cluster_status >&2 || true; return 1; fi
    sleep 0.5
  done
  touch "$cdir/.joined"
  log "3 nodes running ($(urls | tr '\n' ' ')) after $((SECONDS - started))s"
}

stop_node_vm() { # N
  local n=$1 d pid
  d=$(node_dir "$n")
  if vm_alive "$n"; then
    ctl "$n" stop >/dev/null 2>&1 || true
    pid=$(cat "$d/rabbitmq.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "$(node_name "$n") stopped"
  fi
  rm -f "$d/rabbitmq.pid"
  if [ -f "$d/launcher.pid" ]; then kill "$(cat "$d/launcher.pid")" 2>/dev/null || true; rm -f "$d/launcher.pid"; fi
}

urls() { local n; for n in "${nodes[@]}"; do printf 'amqp://guest:guest@127.0.0.1:%s\n' "$(node_port "$n")"; done; }

node_arg() {
  case "${1:-}" in 1|2|3) ;; *) echo "node must be 1, 2 or 3" >&2; exit 2 ;; esac
}

case "${1:-status}" in
  start) start_cluster ;;
  stop) for n in 3 2 1; do stop_node_vm "$n"; done ;;
  status)
    for n in "${nodes[@]}"; do
      if amqp_ready "$(node_port "$n")"; then log "$(node_name "$n") up on $(node_port "$n")"; else log "$(node_name "$n") down"; fi
    done ;;
  urls) urls ;;
  stop-node) node_arg "${2:-}"; ctl "$2" stop_app >/dev/null; log "$(node_name "$2") app stopped" ;;
  start-node)
    # After stop-node: start_app in the running VM; after kill-node: a new VM (it rejoins from its own data).
    node_arg "${2:-}"
    if amqp_ready "$(node_port "$2")"; then log "$(node_name "$2") already up"; exit 0; fi
    if vm_alive "$2"; then ctl "$2" start_app >/dev/null; else cookie; launch "$2"; fi
    wait_port "$2" 180; log "$(node_name "$2") started" ;;
  kill-node)
    node_arg "${2:-}"
    pidfile="$(node_dir "$2")/rabbitmq.pid"
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"; log "$(node_name "$2") killed" ;;
  ctl) node_arg "${2:-}"; n=$2; shift 2; ctl "$n" "$@" ;;
  *) echo "usage: $0 start|stop|status|urls|stop-node N|start-node N|kill-node N|ctl N args..." >&2; exit 2 ;;
esac
