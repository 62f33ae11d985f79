#!/usr/bin/env bash
# The headline ingest figures: builds the server and ocpp-loadgen in release mode, starts the
# server on a fresh temporary data directory with the embedded defaults, and runs
#   1. the standard ingest scenario: 1,000 chargers sending MeterValues of 10 sampled values
#      flat out for 30 s (every message acknowledged only once durable);
#   2. the standard connection scenario: 50,000 idle chargers heartbeating (fewer where the
#      open-file limit is lower), connected from 127.0.0.2-127.0.0.40 to pass the ephemeral
#      port limit.
# Each prints the load generator's summary; JSON copies go to $OUT (default /tmp/ocpp-bench).
# Usage: scripts/benchmark-ingest.sh [ingest|connections|all]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

what=${1:-all}
out=${OUT:-/tmp/ocpp-bench}
mkdir -p "$out"
ensure_swift
ensure_apt_packages liblz4-dev pkg-config

log "building ocpp-server and ocpp-loadgen (release)"
swift build -c release --product ocpp-server >/dev/null
(cd Benchmarks && swift build -c release --product ocpp-loadgen >/dev/null)
server_bin="$(swift build -c release --show-bin-path)/ocpp-server"
loadgen_bin="$(cd Benchmarks && swift build -c release --show-bin-path)/ocpp-loadgen"

# Tens of thousands of sockets on each side.
ulimit -n "$(ulimit -Hn)"

run_server() {
    local work
    work=$(mktemp -d /tmp/ocpp-bench-server.XXXXXX)
    local port
    port=$(free_port)
    (cd "$work" && HOST=127.0.0.1 PORT="$port" LOG_LEVEL=warning exec "$server_bin" serve) >"$work/server.log" 2>&1 &
    server_pid=$!
    server_work=$work
    server_port=$port
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "the server did not start; its log:"
    cat "$work/server.log" >&2
    exit 1
}

stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$server_work"
}

if [ "$what" = ingest ] || [ "$what" = all ]; then
    run_server
    log "ingest: 1,000 chargers, 10 sampled values, flat out (window 4), 30 s; then every acknowledged value checked over REST"
    "$loadgen_bin" --url "ws://127.0.0.1:$server_port/ocpp" --chargers 1000 --sampled-values 10 \
        --window 4 --ramp-up 5s --duration 30s --server-pid "$server_pid" --json "$out/ingest.json" \
        --verify "http://127.0.0.1:$server_port"
    stop_server
fi

if [ "$what" = connections ] || [ "$what" = all ]; then
    # Each process holds one socket per charger: the open-file limit caps the fleet.
    chargers=50000
    limit=$(ulimit -Hn)
    if [ "$limit" != unlimited ] && [ $((limit - 1000)) -lt "$chargers" ]; then
        chargers=$((limit - 1000))
        log "the open-file limit is $limit here (ulimit -Hn): measuring $chargers connections, not 50,000"
    fi
    run_server
    log "connections: $chargers idle chargers heartbeating every 60 s"
    "$loadgen_bin" --url "ws://127.0.0.1:$server_port/ocpp" --chargers "$chargers" --scenario heartbeat \
        --interval 60s --ramp-up 60s --duration 30s --source-addresses 127.0.0.2-127.0.0.40 \
        --event-loops 2 --server-pid "$server_pid" --json "$out/connections.json"
    stop_server
fi
