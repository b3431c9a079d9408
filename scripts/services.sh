#!/usr/bin/env bash
# Installs (from Debian packages, when missing), starts and stops the two real servers payment-bridge
# needs: RabbitMQ and Redis, both bound to 127.0.0.1. Also installs Debian's prometheus package (promtool and
# a Prometheus the tests start on their own; never started here). Idempotent: `start` on running servers is a no-op.
#
#   scripts/services.sh start|stop|status
#   scripts/services.sh start-redis-cluster|stop-redis-cluster|restart-redis-cluster|status-redis-cluster  (a local 6-node Redis
#     Cluster on 127.0.0.1:7001-7006 for the cluster test pass and drill: scripts/redis-cluster.sh)
#
# Data and pid files live under $PB_SERVICES_DIR (default: <repo>/.services), so a checkout never
# touches a system-wide instance. Ports: AMQP $PB_AMQP_PORT (5672), Redis $PB_REDIS_PORT (6379).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${PB_SERVICES_DIR:-$root/.services}"
amqp_port="${PB_AMQP_PORT:-5672}"
redis_port="${PB_REDIS_PORT:-6379}"
mkdir -p "$dir/rabbitmq" "$dir/redis"

log() { printf '[services] %s\n' "$*" >&2; }

install_missing() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  # promtool (alert rule tests) and prometheus (the end-to-end scrape test) come from Debian's prometheus package.
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the packages' own init scripts from starting system-wide instances.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

rabbit_env() {
  export RABBITMQ_NODENAME="pb@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$amqp_port"
  export RABBITMQ_DIST_PORT=$((amqp_port + 20000))
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia"
  export RABBITMQ_LOG_BASE="$dir/rabbitmq/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq/rabbitmq.pid"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq/rabbitmq"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/enabled_plugins"
  export HOME="${HOME:-/root}"
  printf '[].\n' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  # No management plugin, loopback only; a generous disk limit so small CI disks do not block publishers.
  printf 'listeners.tcp.default = 127.0.0.1:%s\ndisk_free_limit.absolute = 50MB\nloopback_users = none\n' \
    "$amqp_port" > "$dir/rabbitmq/rabbitmq.conf"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

amqp_ready() {
  # A TCP accept is not enough: the AMQP listener answers a protocol header with the server's start frame.
  port_open "$amqp_port" || return 1
  local reply
  reply=$(exec 3<>"/dev/tcp/127.0.0.1/$amqp_port"; printf 'AMQP\x00\x00\x09\x01' >&3; timeout 2 head -c 8 <&3 | od -An -tx1 | tr -d ' \n') 2>/dev/null || return 1
  [ "${reply:0:6}" = "010000" ]
}

redis_ready() { redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

wait_for() { # name check timeout_s
  local name=$1 check=$2 limit=$3 start=$SECONDS
  until $check; do
    if (( SECONDS - start >= limit )); then log "$name did not become ready in ${limit}s"; return 1; fi
    sleep 0.2
  done
  log "$name ready on 127.0.0.1 after $((SECONDS - start))s"
}

start_redis() {
  if redis_ready; then log "redis already running on $redis_port"; return 0; fi
  redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes \
    --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
    --appendonly yes --appendfsync everysec --save '' --protected-mode yes
  wait_for redis redis_ready 20
}

start_rabbit() {
  if amqp_ready; then log "rabbitmq already running on $amqp_port"; return 0; fi
  rabbit_env
  local bin=/usr/lib/rabbitmq/bin/rabbitmq-server
  [ -x "$bin" ] || bin=$(command -v rabbitmq-server)
  # epmd must listen on loopback only as well.
  epmd -address 127.0.0.1 -daemon 2>/dev/null || true
  nohup "$bin" > "$dir/rabbitmq/stdout.log" 2>&1 &
  echo $! > "$dir/rabbitmq/launcher.pid"
  wait_for rabbitmq amqp_ready 90
}

stop_pidfile() { # name pidfile
  local name=$1 file=$2
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "$name stopped (pid $pid)"
  fi
  rm -f "$file"
}

restart_owned() { # name pidfile ready-check: only a server this checkout started (else the drill would time nothing)
  local name=$1 file=$2 check=$3
  if [ ! -f "$file" ] || ! kill -0 "$(cat "$file")" 2>/dev/null; then
    if $check; then
      log "$name on 127.0.0.1 was not started from $dir: restart it from the checkout that did, or set PB_SERVICES_DIR to its .services"
      exit 1
    fi
  fi
}

case "${1:-start}" in
  start) install_missing; start_redis; start_rabbit ;;
  stop)
    stop_pidfile redis "$dir/redis/redis.pid"
    stop_pidfile rabbitmq "$dir/rabbitmq/rabbitmq.pid"
    stop_pidfile rabbitmq-launcher "$dir/rabbitmq/launcher.pid" ;;
  restart-rabbitmq) restart_owned rabbitmq "$dir/rabbitmq/rabbitmq.pid" amqp_ready; stop_pidfile rabbitmq "$dir/rabbitmq/rabbitmq.pid"; stop_pidfile rabbitmq-launcher "$dir/rabbitmq/launcher.pid"; start_rabbit ;;
  restart-redis) restart_owned redis "$dir/redis/redis.pid" redis_ready; stop_pidfile redis "$dir/redis/redis.pid"; start_redis ;;
  # The 3-node cluster (scripts/rabbit-cluster.sh): its own ports, data and cookie; never the node above.
  start-rabbit-cluster) install_missing; bash "$root/scripts/rabbit-cluster.sh" start ;;
  stop-rabbit-cluster) bash "$root/scripts/rabbit-cluster.sh" stop ;;
  status-rabbit-cluster) bash "$root/scripts/rabbit-cluster.sh" status ;;
  # The local Redis Cluster (ports 7001-7006, its own data): scripts/redis-cluster.sh.
  start-redis-cluster) bash "$root/scripts/redis-cluster.sh" start ;;
  stop-redis-cluster) bash "$root/scripts/redis-cluster.sh" stop ;;
  restart-redis-cluster) bash "$root/scripts/redis-cluster.sh" restart ;;
  status-redis-cluster) bash "$root/scripts/redis-cluster.sh" status ;;
  status)
    amqp_ready && log "rabbitmq up on $amqp_port" || log "rabbitmq down"
    redis_ready && log "redis up on $redis_port" || log "redis down" ;;
  *) echo "usage: $0 start|stop|status|restart-rabbitmq|restart-redis|start-rabbit-cluster|stop-rabbit-cluster|status-rabbit-cluster|start-redis-cluster|stop-redis-cluster|restart-redis-cluster|status-redis-cluster" >&2; exit 2 ;;
esac
