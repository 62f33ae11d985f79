#!/usr/bin/env bash
# Runs a cluster on this machine: a throwaway PostgreSQL, three ocpp-server nodes on loopback
# sharing it, and nginx (Debian's package) in front as the WebSocket-aware load balancer.
# Prints the balancer's URL (chargers connect to BALANCER/ocpp/{charge_point_id}, the REST API
# answers there too) and each node's; Ctrl-C stops everything.
#
# Settings (environment):
#   CLUSTER_DIR            the run directory (logs, data, secret, token); must not hold a
#                          cluster yet; default: a new directory in /tmp, removed at exit
#   CLUSTER_BASE_PORT      8100: the balancer; nodes on the next ports, PostgreSQL after them
#   CLUSTER_NODES          3
#   CLUSTER_LEASE_SECONDS  15
#   NGINX_WORKERS          auto
#   NGINX_WORKER_CONNECTIONS  8192 per worker (a charger takes two); more also raises the
#                          workers' open-file limit
#   SERVER_BIN             .build/release/ocpp-server, built first unless SKIP_BUILD=1
#   LOG_LEVEL and any other server setting pass through to every node.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/cluster.sh

base_port=${CLUSTER_BASE_PORT:-8100}
nodes=${CLUSTER_NODES:-3}
lease=${CLUSTER_LEASE_SECONDS:-15}
case "$nodes" in [1-9]) ;; *) log "CLUSTER_NODES must be 1 to 9"; exit 2 ;; esac

ensure_apt_packages nginx postgresql curl
if [ -z "${SERVER_BIN:-}" ]; then
    SERVER_BIN="$PWD/.build/release/ocpp-server"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        ensure_swift
        ensure_apt_packages liblz4-dev pkg-config
        log "building ocpp-server (release)"
        swift build -c release --product ocpp-server >/dev/null
    fi
fi
[ -x "$SERVER_BIN" ] || { log "$SERVER_BIN is missing: build it (without SKIP_BUILD=1) or set SERVER_BIN"; exit 1; }

dir=${CLUSTER_DIR:-}
keep=1
if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/ocpp-cluster.XXXXXX)
    keep=0
elif [ -e "$dir/cluster.env" ]; then
    log "$dir already holds a cluster: choose a new CLUSTER_DIR"
    exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
stop() {
    log "stopping the cluster"
    cluster_stop "$dir"
    [ "$keep" = 1 ] || rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

node_ports=()
for index in $(seq 1 "$nodes"); do node_ports+=($((base_port + index))); done
pg_port=$((base_port + nodes + 1))

for port in "$base_port" "${node_ports[@]}" "$pg_port"; do
    python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null || {
        log "port $port on 127.0.0.1 is taken: choose another CLUSTER_BASE_PORT"
        exit 1
    }
done
cluster_prepare "$dir"
cluster_start_postgres "$dir" "$pg_port"
cluster_write_env "$dir" "$SERVER_BIN" "$cluster_database_url" "$lease" "${node_ports[@]}"
cluster_create_admin_token "$dir"
for index in $(seq 1 "$nodes"); do
    log "starting node-$index on 127.0.0.1:${node_ports[index - 1]}"
    cluster_start_node "$dir" "$index"
done
for index in $(seq 1 "$nodes"); do
    cluster_wait_ready "$(cluster_node_url "$dir" "$index")" "$dir/node-$index/server.log"
done
cluster_write_nginx_conf "$dir" "$base_port" "${NGINX_WORKERS:-auto}" "${NGINX_WORKER_CONNECTIONS:-8192}"
cluster_start_nginx "$dir"
cluster_wait_balancer "http://127.0.0.1:$base_port"

cat >&2 <<EOF

The cluster is up ($nodes nodes, lease ${lease} s). Ctrl-C stops it.
  balancer (nginx)  http://127.0.0.1:$base_port      chargers: ws://127.0.0.1:$base_port/ocpp/{charge_point_id}
EOF
for index in $(seq 1 "$nodes"); do
    printf '  node-%d            %s  log: %s\n' "$index" "$(cluster_node_url "$dir" "$index")" \
        "$dir/node-$index/server.log" >&2
done
cat >&2 <<EOF
  PostgreSQL        $cluster_database_url
  admin API token   in $dir/admin-token (mode 0600), e.g.
                    curl -H "Authorization: Bearer \$(cat $dir/admin-token)" http://127.0.0.1:$base_port/charge_points
  run directory     $dir$([ "$keep" = 1 ] || printf ' (removed at exit)')

A node stopped with kill -9 can be started again on its data with
  scripts/lib/cluster-node.sh $dir N &
EOF

# Runs until interrupted; a node that stops (or is killed, to try failover) leaves the
# others running.
while true; do
    sleep 1
    if [ -s "$dir/nginx/nginx.pid" ] && ! kill -0 "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null; then
        log "nginx stopped; its error log:"
        tail -20 "$dir/nginx/error.log" >&2
        exit 1
    fi
done
