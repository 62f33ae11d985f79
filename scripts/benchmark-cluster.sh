#!/usr/bin/env bash
# The cluster's figures (issue 17), on this machine: a throwaway PostgreSQL, ocpp-server nodes
# on loopback and nginx in front (scripts/lib/cluster.sh, as scripts/cluster.sh runs them), all
# sharing the machine's cores with the load. Each section starts its own cluster on free
# ports and stops every process it started (nginx, nodes, PostgreSQL, load generators), also
# on Ctrl-C; the measuring parts are scripts/lib/cluster_bench.py.
#
# Usage: scripts/benchmark-cluster.sh [latency|failover|ingest|connections|all]...  (default: all)
#   latency      one charger connected directly to node-1, answering at once; per round
#                REQUESTS REST commands (POST /charge_points/{id}/change_configuration) through
#                node-1 (local), REQUESTS through node-2 (forwarded to node-1) and REQUESTS
#                straight to node-1's internal route (what node-2 calls, with the cluster
#                secret), one at a time in turn on keep-alive connections: p50/p90/p99 of each,
#                the added latency at p50 and how much of it is spent on node-2's side,
#                ROUNDS rounds and their medians
#   failover     FAILOVER_CHARGERS chargers through nginx, each reconnecting RECONNECT_DELAY s
#                (times 1 to 1.5, its own draw) after its connection ends; kill -9 of one node
#                per run (FAILOVER_RUNS): the time until all its chargers are booted on the
#                others, against their own delays; the node starts again before the next run
#   ingest       ocpp-loadgen (INGEST_CHARGERS chargers, window 1, 10 sampled values,
#                DURATION) against nginx in front of 3 nodes, against 1 node of a cluster
#                directly and against a plain single server (SQLite, no cluster), alternately,
#                ROUNDS rounds, each run on a fresh start (a new database, new data
#                directories): confirmed MeterValues/s and latency, medians
#   connections  CONNECTIONS chargers (default 50,000) through nginx in front of 3 nodes, one
#                MeterValues per charger per minute, from as many load generator processes as
#                the open-file limit needs (at most 17,000 chargers each) and as many nginx
#                workers (reuseport, worker_connections 19,500: a charger takes two),
#                connecting to the nodes from 8 loopback addresses; the connections each
#                node holds and its memory per connection
# Environment:
#   ROUNDS (5), REQUESTS (500), FAILOVER_CHARGERS (300), RECONNECT_DELAY (5), FAILOVER_RUNS (3),
#   INGEST_CHARGERS (1000), DURATION (20s), CONNECTIONS (50000), CONNECTIONS_RAMP_UP (150s)
#   SKIP_BUILD=1 do not build; use SERVER_BIN and LOADGEN_BIN (default: the release build paths)
#   SERVER_BIN, LOADGEN_BIN  the binaries to measure
#   OUT          the load generator's JSON and output and the tables (default /tmp/ocpp-bench-cluster)
#   OCPP_TEST_VENV  a venv with the PyPI packages ocpp and websockets (default
#                /tmp/ocpp-server-test-venv, created if missing, as scripts/cluster-test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/cluster.sh

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(all)
for section in "${sections[@]}"; do
    case "$section" in latency | failover | ingest | connections | all) ;; *)
        log "usage: $0 [latency|failover|ingest|connections|all]..."
        exit 2
        ;;
    esac
done
wanted() {
    local section
    for section in "${sections[@]}"; do
        [ "$section" = "$1" ] || [ "$section" = all ] && return 0
    done
    return 1
}
out=${OUT:-/tmp/ocpp-bench-cluster}
rounds=${ROUNDS:-5}
duration=${DURATION:-20s}
mkdir -p "$out"
ensure_apt_packages nginx postgresql curl python3 iproute2

release_binaries
venv=${OCPP_TEST_VENV:-/tmp/ocpp-server-test-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'ocpp==2.1.0' 'websockets>=13'
bench=("$venv/bin/python" scripts/lib/cluster_bench.py)

# Tens of thousands of sockets: every process started from here gets the hard limit.
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/ocpp-bench-cluster.XXXXXX)
chmod 755 "$work"
clusters=()
single_pid=""
cleanup() {
    local dir
    [ -n "$single_pid" ] && stop_process "$single_pid"
    # Newest first: a run directory's nodes before the PostgreSQL they share.
    for ((index = ${#clusters[@]} - 1; index >= 0; index--)); do
        cluster_stop "${clusters[index]}"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export LOG_LEVEL=${LOG_LEVEL:-warning}

# distinct_ports N: N distinct free ports on 127.0.0.1, in cluster_ports.
distinct_ports() {
    cluster_ports=()
    local port
    while [ ${#cluster_ports[@]} -lt "$1" ]; do
        port=$(free_port)
        case " ${cluster_ports[*]} " in *" $port "*) ;; *) cluster_ports+=("$port") ;; esac
    done
}

# start_cluster DIR NODES NGINX_WORKERS [WORKER_CONNECTIONS REUSEPORT [DATABASE_URL
# [SOURCES]]]: a cluster in DIR (its own PostgreSQL unless DATABASE_URL is given) with nginx
# in front (SOURCES: cluster_write_nginx_conf's); sets cluster_balancer (http://127.0.0.1:PORT).
start_cluster() {
    local dir=$1 nodes=$2 workers=$3 worker_connections=${4:-8192} reuseport=${5:-0} database_url=${6:-}
    local sources=${7:-0}
    distinct_ports $((nodes + 2))
    local ports=("${cluster_ports[@]}") index
    clusters+=("$dir")
    cluster_prepare "$dir"
    if [ -z "$database_url" ]; then
        cluster_start_postgres "$dir" "${ports[nodes + 1]}"
        database_url=$cluster_database_url
    fi
    cluster_write_env "$dir" "$server_bin" "$database_url" "${CLUSTER_LEASE_SECONDS:-15}" "${ports[@]:1:nodes}"
    cluster_create_admin_token "$dir"
    for index in $(seq 1 "$nodes"); do cluster_start_node "$dir" "$index"; done
    for index in $(seq 1 "$nodes"); do
        cluster_wait_ready "$(cluster_node_url "$dir" "$index")" "$dir/node-$index/server.log" ||
            { cluster_logs_tail "$dir"; exit 1; }
    done
    cluster_write_nginx_conf "$dir" "${ports[0]}" "$workers" "$worker_connections" "$reuseport" "$sources"
    cluster_start_nginx "$dir"
    cluster_balancer="http://127.0.0.1:${ports[0]}"
    cluster_wait_balancer "$cluster_balancer" || { cluster_logs_tail "$dir"; exit 1; }
}

# stop_cluster DIR: stops what DIR runs and forgets it.
stop_cluster() {
    local dir=$1 kept=() each
    cluster_stop "$dir"
    for each in "${clusters[@]}"; do [ "$each" = "$dir" ] || kept+=("$each"); done
    clusters=("${kept[@]}")
    rm -rf "$dir"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
log "$(nproc) cores, open-file limit $(ulimit -Hn), load average $(loadavg); server $server_bin"

if wanted latency; then
    log "latency: 3 nodes, one charger on node-1, $rounds rounds of ${REQUESTS:-500} commands each way (load average $(loadavg))"
    start_cluster "$work/latency" 3 2
    "${bench[@]}" latency --dir "$work/latency" --rounds "$rounds" --requests "${REQUESTS:-500}" |
        tee "$out/latency.txt"
    log "load average after: $(loadavg)"
    stop_cluster "$work/latency"
fi

if wanted failover; then
    log "failover: 3 nodes, ${FAILOVER_CHARGERS:-300} chargers through nginx (load average $(loadavg))"
    start_cluster "$work/failover" 3 2
    "${bench[@]}" failover --dir "$work/failover" --balancer "$cluster_balancer" \
        --chargers "${FAILOVER_CHARGERS:-300}" --reconnect-delay "${RECONNECT_DELAY:-5}" \
        --runs "${FAILOVER_RUNS:-3}" | tee "$out/failover.txt"
    log "load average after: $(loadavg)"
    stop_cluster "$work/failover"
fi

if wanted ingest; then
    ingest_chargers=${INGEST_CHARGERS:-1000}
    loadgen_options=(--chargers "$ingest_chargers" --window 1 --sampled-values 10 --ramp-up 5s --duration "$duration")
    log "ingest: $ingest_chargers chargers at window 1 against nginx + 3 nodes, 1 node direct and a plain server"
    log "  each: $loadgen_bin --url ws://.../ocpp ${loadgen_options[*]} --json ..."
    log "  load average $(loadavg)"
    # One PostgreSQL for the section; every cluster run gets a new database on it.
    distinct_ports 1
    mkdir -p "$work/ingest-pg"
    clusters+=("$work/ingest-pg")
    cluster_start_postgres "$work/ingest-pg" "${cluster_ports[0]}"
    pg_port=${cluster_ports[0]}
    rm -f "$out"/ingest-*.json
    run=0
    for round in $(seq 1 "$rounds"); do
        # Alternating: each round in another order.
        case $((round % 3)) in 1) order="cluster node single" ;; 2) order="node single cluster" ;;
        0) order="single cluster node" ;; esac
        for target in $order; do
            run=$((run + 1))
            name="ingest-$target-$round"
            if [ "$target" = single ]; then
                port=$(free_port)
                mkdir -p "$work/single-$round"
                (cd "$work/single-$round" && HOST=127.0.0.1 PORT="$port" exec "$server_bin" serve) \
                    >"$work/single-$round.log" 2>&1 &
                single_pid=$!
                wait_until_healthy "http://127.0.0.1:$port" "$work/single-$round.log"
                url="ws://127.0.0.1:$port/ocpp"
            else
                "$(cat "$work/ingest-pg/postgres/bin")/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "ocpp_$run"
                nodes=3
                [ "$target" = node ] && nodes=1
                start_cluster "$work/$name" "$nodes" 2 8192 0 \
                    "postgres://postgres@127.0.0.1:$pg_port/ocpp_$run?sslmode=disable"
                if [ "$target" = cluster ]; then
                    url="${cluster_balancer/http:/ws:}/ocpp"
                else
                    url="$(cluster_node_url "$work/$name" 1 | sed 's/^http:/ws:/')/ocpp"
                fi
            fi
            log "round $round: $target ($url), load average $(loadavg)"
            "$loadgen_bin" --url "$url" "${loadgen_options[@]}" --json "$out/$name.json" >"$out/$name.txt" 2>&1 ||
                log "ocpp-loadgen failed: see $out/$name.txt"
            grep -E '^(confirmed|latency)' "$out/$name.txt" | sed 's/^/    /' || true
            if [ "$target" = single ]; then
                stop_process "$single_pid"
                single_pid=""
                rm -rf "$work/single-$round"
            else
                stop_cluster "$work/$name"
            fi
        done
    done
    log "load average after: $(loadavg)"
    stop_cluster "$work/ingest-pg"
    python3 scripts/lib/cluster_bench.py ingest-table --out "$out" | tee "$out/ingest.txt"
fi

if wanted connections; then
    chargers=${CONNECTIONS:-50000}
    # A charger takes two connections of an nginx worker (one socket to the charger, one to its
    # node): 19,500 per worker stays under the open-file limit; reuseport spreads the chargers
    # evenly over the workers, with a worker to spare. nginx connects to the nodes from
    # 127.0.1.1-127.0.1.8: from 127.0.0.1 alone the ephemeral ports towards each node ran out
    # at about 14,600 connections (EADDRNOTAVAIL).
    workers=$(((chargers * 2 + 19499) / 19500 + 1))
    log "connections: $chargers chargers through nginx ($workers workers) in front of 3 nodes (load average $(loadavg))"
    start_cluster "$work/connections" 3 "$workers" 19500 1 "" 8
    python3 scripts/lib/cluster_bench.py connections --dir "$work/connections" --balancer "$cluster_balancer" \
        --loadgen "$loadgen_bin" --out "$out" --chargers "$chargers" --ramp-up "${CONNECTIONS_RAMP_UP:-150s}" \
        --duration "${CONNECTIONS_DURATION:-60s}" --per-process "${CONNECTIONS_PER_PROCESS:-17000}" | tee "$out/connections.txt"
    log "load average after: $(loadavg)"
    stop_cluster "$work/connections"
fi
