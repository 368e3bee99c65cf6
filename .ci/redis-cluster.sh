#!/usr/bin/env bash
# A throwaway three-node Redis Cluster on loopback, for the cluster tests.
#
#   .ci/redis-cluster.sh start   # prints the node list, e.g. 127.0.0.1:7000,127.0.0.1:7001,...
#   .ci/redis-cluster.sh stop
#
# Ports: REDIS_CLUSTER_BASE_PORT (default 7000) .. +2. State lives in a temporary
# directory recorded in REDIS_CLUSTER_STATE (default /tmp/autoassign-redis-cluster-<base>).
# `start` first stops whatever an earlier run left on those ports, so running it twice
# in a row (or after a crash) works; nothing is persisted (--save '' --appendonly no).
set -euo pipefail

BASE_PORT="${REDIS_CLUSTER_BASE_PORT:-7000}"
PORTS=("$BASE_PORT" "$((BASE_PORT + 1))" "$((BASE_PORT + 2))")
STATE="${REDIS_CLUSTER_STATE:-${TMPDIR:-/tmp}/autoassign-redis-cluster-$BASE_PORT}"
HOST=127.0.0.1

nodes() {
    local out="" port
    for port in "${PORTS[@]}"; do out+="${out:+,}$HOST:$port"; done
    echo "$out"
}

stop_node() {
    local port="$1" i
    if redis-cli -h "$HOST" -p "$port" ping >/dev/null 2>&1; then
        redis-cli -h "$HOST" -p "$port" shutdown nosave >/dev/null 2>&1 || true
        for i in $(seq 1 50); do
            redis-cli -h "$HOST" -p "$port" ping >/dev/null 2>&1 || return 0
            sleep 0.1
        done
        echo "redis-cluster: port $port did not shut down" >&2
        return 1
    fi
}

stop() {
    local port
    for port in "${PORTS[@]}"; do stop_node "$port"; done
    rm -rf "$STATE"
}

start() {
    command -v redis-server >/dev/null || { echo "redis-server not found" >&2; exit 1; }
    stop  # leftovers from an earlier run
    mkdir -p "$STATE"
    local port i
    for port in "${PORTS[@]}"; do
        redis-server --port "$port" --bind "$HOST" \
            --cluster-enabled yes --cluster-config-file "$STATE/nodes-$port.conf" \
            --cluster-node-timeout 5000 \
            --save '' --appendonly no --daemonize yes --dir "$STATE" \
            --logfile "$STATE/redis-$port.log" --pidfile "$STATE/redis-$port.pid"
    done
    for port in "${PORTS[@]}"; do
        for i in $(seq 1 50); do
            redis-cli -h "$HOST" -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    local addrs=()
    for port in "${PORTS[@]}"; do addrs+=("$HOST:$port"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$STATE/create.log"
    for i in $(seq 1 100); do
        local ok=1
        for port in "${PORTS[@]}"; do
            redis-cli -h "$HOST" -p "$port" cluster info 2>/dev/null \
                | grep -q '^cluster_state:ok' || ok=0
        done
        if [ "$ok" = 1 ]; then
            nodes
            return 0
        fi
        sleep 0.1
    done
    echo "redis-cluster: cluster_state never became ok" >&2
    cat "$STATE/create.log" >&2
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    nodes) nodes ;;
    *) echo "usage: $0 start|stop|nodes" >&2; exit 2 ;;
esac
