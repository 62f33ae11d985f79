#!/usr/bin/env bash
# What live-stream subscribers cost ingest (issue 18: 1,000 stream subscribers while ingesting
# at full rate may cost ingest at most 10 % of its throughput).
#
# Two variants, alternated within each round on the same server binary with the same load
# generator command (benchmark-ingest.sh's w1-1000 scenario: window 1, one outstanding CALL
# per charger, 1,000 chargers flat out, 10 sampled values per MeterValues):
#   A  no subscribers
#   B  one live stream per charger (GET /db/chargers/{id}/meter-values/stream), all opened
#      before the load starts and read and parsed (de-chunked, split into events, counted by
#      type) by ocpp-stream-subscribers (Benchmarks/Sources/StreamSubscribers: one process,
#      all streams on one event loop thread) on the same cores
# Odd rounds run A then B, even rounds B then A. Every run gets a fresh server (embedded
# defaults: SQLite, every CALLRESULT after its fdatasync; 127.0.0.1; API_AUTH_DISABLED=true)
# on a fresh data directory, whose chargers LG-0 ... LG-999 (the load generator's ids) are
# created first through POST /db/chargers/ in both variants, so that B knows their ids.
# After a B run the subscribers read until their streams are quiet, and the samples they
# received are compared with the samples stored for those chargers (read back over REST):
# the streams open before the first row, so the two must be equal.
#
# Prints per round and as medians: confirmed MeterValues/s of A and B and their ratio, the
# same late in the run (the median of the load generator's per-second rates over the second
# half of the measurement, after what the start costs once), the server's CPU per message and
# cores, the load generator's CPU per message, the subscribers'
# CPU (cores), sample events received per second during B's measurement, streams ready,
# dropped or ended early, events received against samples stored. Exits non-zero when a B
# run lost streams or its events disagree with the store.
#
# Usage: scripts/benchmark-streams.sh
# Environment:
#   DURATION     measurement per run, after a 5 s ramp-up (default 20s)
#   ROUNDS       rounds (default 3), each one run of A and one of B; the table gives medians
#   CHARGERS     chargers, and subscribers in B (default 1000)
#   PROFILE=1    afterwards one more B run (left out of the table) with
#                `perf record -g` on the server for 10 s; the report goes to $OUT/perf-B.txt
#   PROFILE_VARIANTS  the variants profiled so (default B; "A B" for both, side by side)
#   SKIP_BUILD=1 do not build; use SERVER_BIN, LOADGEN_BIN and SUBSCRIBERS_BIN (default: the
#                release build paths)
#   SERVER_BIN, LOADGEN_BIN  the binaries to measure
#   SUBSCRIBERS_BIN  the subscribers (default Benchmarks/.build/release/ocpp-stream-subscribers)
#   OUT          where the JSON of each run, the load generator's output and the table go
#                (default /tmp/ocpp-bench-streams)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

out=${OUT:-/tmp/ocpp-bench-streams}
duration=${DURATION:-20s}
rounds=${ROUNDS:-3}
chargers=${CHARGERS:-1000}
ramp_up=5
helper="$(pwd)/scripts/lib/stream_subscribers.py"
mkdir -p "$out"
ensure_apt_packages liblz4-dev pkg-config python3 curl

release_binaries
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building ocpp-stream-subscribers (release)"
    (cd Benchmarks && swift build -c release --product ocpp-stream-subscribers >/dev/null)
fi
subscribers_bin=${SUBSCRIBERS_BIN:-"$(pwd)/Benchmarks/.build/release/ocpp-stream-subscribers"}
[ -x "$subscribers_bin" ] || {
    log "$subscribers_bin is missing: build it (without SKIP_BUILD=1) or set SUBSCRIBERS_BIN"
    exit 1
}
if [ "${PROFILE:-0}" = 1 ]; then
    command -v perf >/dev/null 2>&1 || {
        log "PROFILE=1 needs perf (Debian: linux-perf)"
        exit 1
    }
fi

work=$(mktemp -d /tmp/ocpp-bench-streams.XXXXXX)
server_pid=""
subscriber_pid=""
cleanup() {
    [ -n "$subscriber_pid" ] && kill -TERM "$subscriber_pid" 2>/dev/null && wait "$subscriber_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The server holds a socket per charger and per stream, the subscribers one per stream.
ulimit -n "$(ulimit -Hn)"

start_server() {
    port=$(free_port)
    base="http://127.0.0.1:$port"
    rm -rf "$work/server" && mkdir -p "$work/server"
    (cd "$work/server" && HOST=127.0.0.1 PORT="$port" LOG_LEVEL=warning API_AUTH_DISABLED=true \
        exec "$server_bin" serve) \
        >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_until_healthy "$base" "$work/server.log"
}

stop_server() {
    stop_process "$server_pid"
    server_pid=""
}

# start_subscribers NAME: one stream per charger, returning once every stream is ready.
start_subscribers() {
    rm -f "$work/ready"
    "$subscribers_bin" "$base" "$work/ids.json" "$out/subscribers-$1.json" "$work/ready" \
        2>"$out/subscribers-$1.err" &
    subscriber_pid=$!
    for _ in $(seq 1 1200); do
        [ -s "$work/ready" ] && break
        kill -0 "$subscriber_pid" 2>/dev/null || {
            log "the subscribers failed:"
            cat "$out/subscribers-$1.err" >&2
            exit 1
        }
        sleep 0.1
    done
    [ -s "$work/ready" ] || {
        log "the streams were not ready within 120 s"
        exit 1
    }
    log "$(cat "$work/ready") of $chargers streams ready"
}

stop_subscribers() {
    kill -TERM "$subscriber_pid" 2>/dev/null || true
    wait "$subscriber_pid" || log "the subscribers exited with an error (see $out/subscribers-$1.err)"
    subscriber_pid=""
}

# run_one VARIANT NAME: one run of A or B; its JSON goes to $out/NAME.json.
run_one() {
    local variant=$1 name=$2
    start_server
    python3 "$helper" register "$base" "$chargers" LG "$work/ids.json"
    if [ "$variant" = B ]; then start_subscribers "$name"; fi
    local profiler=""
    if [ "${PROFILE_RUN:-0}" = 1 ]; then
        (sleep $((ramp_up + 4)) && exec perf record -F 999 -g -o "$out/perf-$variant.data" -p "$server_pid" -- sleep 10) \
            >"$out/perf-$variant.log" 2>&1 &
        profiler=$!
    fi
    log "$name: $([ "$variant" = A ] && echo "no subscribers" || echo "$chargers subscribers"), $chargers chargers at window 1, $duration"
    rm -f "$out/$name.json"
    date +%s.%N >"$out/start-$name.txt"
    "$loadgen_bin" --url "ws://127.0.0.1:$port/ocpp" --chargers "$chargers" --window 1 --ramp-up "${ramp_up}s" \
        --sampled-values 10 --duration "$duration" --server-pid "$server_pid" --json "$out/$name.json" \
        2>"$out/$name.err" | tee "$out/$name.txt" | grep -vE '^$' || log "ocpp-loadgen exited with an error (see $out/$name.err)"
    date +%s.%N >"$out/end-$name.txt"
    [ -n "$profiler" ] && wait "$profiler"
    if [ "$variant" = B ]; then
        stop_subscribers "$name"
        python3 "$helper" count "$base" "$work/ids.json" >"$out/stored-$name.json"
    fi
    stop_server
}

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$out"/{A,B}-*.{json,err,txt} "$out"/{subscribers,stored,start,end}-{A,B}-*
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="A B"; else order="B A"; fi
    for variant in $order; do run_one "$variant" "$variant-$round"; done
done
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
python3 "$helper" table "$out" "$ramp_up" | tee "$out/table.txt" || status=1

if [ "${PROFILE:-0}" = 1 ]; then
    for variant in ${PROFILE_VARIANTS:-B}; do
        log "profile: one more $variant run with perf record -g on the server"
        PROFILE_RUN=1 run_one "$variant" "profile-$variant"
        perf report -i "$out/perf-$variant.data" --stdio --no-children --percent-limit 1 2>/dev/null |
            { if command -v swift >/dev/null 2>&1; then swift demangle --simplified; else cat; fi; } >"$out/perf-$variant.txt"
        log "profile: $out/perf-$variant.txt"
    done
fi
exit $status
