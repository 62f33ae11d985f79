#!/usr/bin/env bash
# Ingest of OCPP MeterValues, each scenario measured against the machine's floor and then
# against ocpp-server in the same run, with the same load generator command.
#
# The floor is ../shared/tools/wsfloor.c (an epoll server that does only what the protocol
# forces: the handshake, unmasking, answering at once; it stores nothing), compiled here with
# cc. ocpp-server runs on the embedded defaults (SQLite, every CALLRESULT after the fdatasync
# that covers it) with a fresh data directory for every run, on 127.0.0.1 with the REST API's
# authentication off (API_AUTH_DISABLED, for --verify). ocpp-loadgen runs beside either on
# the same cores; its own CPU per message is reported beside theirs.
#
# Scenarios (all 10 sampled values per MeterValues):
#   w1-1000, w1-5000, w1-19000  THE HEADLINE: window 1, one outstanding CALL per charger as
#                               OCPP-J 1.6 section 4.1.1 has it, chargers sending flat out;
#                               19,000 is lowered to what the open-file limit allows
#                               (ulimit -Hn minus 1,000). The 1,000-charger server run is
#                               checked with --verify (every acknowledged value read back).
#   fleet                       a realistic fleet: 19,000 chargers (same cap), each one
#                               MeterValues per second, a StatusNotification every 60 s and a
#                               Heartbeat every 300 s (staggered), one call outstanding at
#                               most; latency p50/p99/p99.9/max per action.
#   w4-1000                     STRESS ONLY: window 4, four calls in flight per connection,
#                               which no conforming charger does; checked with --verify.
# Fleets of 5,000 chargers or more connect from 127.0.0.2-127.0.0.40 (past the ephemeral port
# range, which earlier runs' TIME_WAIT sockets also hold).
#
# Prints one table: per scenario the floor's and the server's confirmed messages/s (medians
# over the rounds), their ratio, CPU microseconds per message of the floor, the server and the
# load generator (during the server's run), and for the fleet the latency percentiles per
# action of floor and server with their ratios. Each run also leaves OUT/SCENARIO-TARGET-ROUND-
# timeline.csv (ocpp-loadgen --timeline: slow answers per tenth of a second, to place a stall).
# Exits non-zero if a --verify check failed.
#
# Usage: scripts/benchmark-ingest.sh [ingest|connections|all]      (default: ingest)
#   ingest       the scenarios above
#   connections  50,000 idle chargers heartbeating every 60 s (fewer where the open-file limit
#                is lower), connected from 127.0.0.2-127.0.0.40: server memory per connection
#   all          both
# Environment:
#   DURATION     measurement per run, after the ramp-up (default 30s)
#   ROUNDS       rounds (default 3); each round runs every scenario, floor then server;
#                the table gives medians over the rounds
#   SCENARIOS    the scenarios to run, a subset of "w1-1000 w1-5000 w1-19000 fleet w4-1000"
#   SKIP_BUILD=1 do not build; use SERVER_BIN and LOADGEN_BIN (default: the release build paths)
#   SERVER_BIN, LOADGEN_BIN  the binaries to measure
#   FLOOR_SOURCE the floor's source (default ../shared/tools/wsfloor.c beside the repository)
#   OUT          where the JSON of each run, the load generator's output and the table go
#                (default /tmp/ocpp-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

what=${1:-ingest}
case "$what" in ingest | connections | all) ;; *)
    log "usage: $0 [ingest|connections|all]"
    exit 2
    ;;
esac
out=${OUT:-/tmp/ocpp-bench}
duration=${DURATION:-30s}
rounds=${ROUNDS:-3}
scenarios=${SCENARIOS:-"w1-1000 w1-5000 w1-19000 fleet w4-1000"}
floor_source=${FLOOR_SOURCE:-"$(pwd)/../shared/tools/wsfloor.c"}
for scenario in $scenarios; do
    case "$scenario" in w1-1000 | w1-5000 | w1-19000 | fleet | w4-1000) ;; *)
        log "unknown scenario '$scenario' in SCENARIOS (known: w1-1000 w1-5000 w1-19000 fleet w4-1000)"
        exit 2
        ;;
    esac
done
mkdir -p "$out"
ensure_apt_packages liblz4-dev pkg-config python3 curl gcc libc6-dev libssl-dev

release_binaries

work=$(mktemp -d /tmp/ocpp-bench-ingest.XXXXXX)
target_pid=""
cleanup() {
    [ -n "$target_pid" ] && kill -TERM "$target_pid" 2>/dev/null && wait "$target_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Tens of thousands of sockets on each side; each process holds one per charger.
ulimit -n "$(ulimit -Hn)"
limit=$(ulimit -Hn)
cap() {
    if [ "$limit" != unlimited ] && [ $((limit - 1000)) -lt "$1" ]; then echo $((limit - 1000)); else echo "$1"; fi
}

# start_floor / start_server: set target_pid and target_port once the target answers.
start_floor() {
    target_port=$(free_port)
    "$work/wsfloor" "$target_port" 2 >"$work/floor.log" 2>&1 &
    target_pid=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$target_port") 2>/dev/null && return 0
        sleep 0.1
    done
    log "the floor did not start; its log:"
    cat "$work/floor.log" >&2
    exit 1
}

start_server() {
    target_port=$(free_port)
    rm -rf "$work/server" && mkdir -p "$work/server"
    # Authentication off (allowed on loopback only) so that --verify can read the history back.
    (cd "$work/server" && HOST=127.0.0.1 PORT="$target_port" LOG_LEVEL=warning API_AUTH_DISABLED=true \
        exec "$server_bin" serve) \
        >"$work/server.log" 2>&1 &
    target_pid=$!
    wait_until_healthy "http://127.0.0.1:$target_port" "$work/server.log"
}

stop_target() {
    stop_process "$target_pid"
    target_pid=""
}

# The load generator's options for a scenario (the URL, pid and JSON are added by run_one).
scenario_options() {
    local many=(--source-addresses 127.0.0.2-127.0.0.40)
    case "$1" in
    w1-1000) echo --chargers 1000 --window 1 --ramp-up 5s ;;
    w1-5000) echo --chargers 5000 --window 1 --ramp-up 10s "${many[@]}" ;;
    w1-19000) echo --chargers "$(cap 19000)" --window 1 --ramp-up 20s "${many[@]}" ;;
    fleet) echo --chargers "$(cap 19000)" --scenario fleet --interval 1s --status-interval 60s \
        --heartbeat-interval 300s --ramp-up 20s "${many[@]}" ;;
    w4-1000) echo --chargers 1000 --window 4 --ramp-up 5s ;;
    esac
}

describe() {
    case "$1" in
    w1-*) echo "window 1 (one outstanding CALL per charger), ${1#w1-} chargers flat out" ;;
    fleet) echo "realistic fleet: $(cap 19000) chargers, 1 MeterValues/s each, status 60 s, heartbeat 300 s" ;;
    w4-1000) echo "STRESS: window 4 (four CALLs in flight per connection), 1,000 chargers" ;;
    esac
}

# run_one SCENARIO TARGET ROUND: one run; its JSON goes to $out/SCENARIO-TARGET-ROUND.json.
run_one() {
    local scenario=$1 target=$2 round=$3
    local name="$scenario-$target-$round"
    local options
    read -r -a options <<<"$(scenario_options "$scenario")"
    if [ "$target" = floor ]; then start_floor; else start_server; fi
    local verify=()
    if [ "$target" = server ] && { [ "$scenario" = w1-1000 ] || [ "$scenario" = w4-1000 ]; }; then
        verify=(--verify "http://127.0.0.1:$target_port")
    fi
    log "round $round, $target: $(describe "$scenario"), $duration"
    rm -f "$out/$name.json"
    "$loadgen_bin" --url "ws://127.0.0.1:$target_port/ocpp" --sampled-values 10 "${options[@]}" \
        --duration "$duration" --server-pid "$target_pid" --json "$out/$name.json" \
        --timeline "$out/$name-timeline.csv" "${verify[@]}" \
        2>"$out/$name.err" | tee "$out/$name.txt" | grep -vE '^$' || log "ocpp-loadgen exited with an error (a failed --verify, or see $out/$name.err)"
    stop_target
}

if [ "$what" = ingest ] || [ "$what" = all ]; then
    [ -f "$floor_source" ] || {
        log "the floor's source is missing: $floor_source (set FLOOR_SOURCE to wsfloor.c)"
        exit 1
    }
    cc -O2 -o "$work/wsfloor" "$floor_source" -lcrypto -lpthread
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; open-file limit $limit"
    rm -f "$out"/{w1-1000,w1-5000,w1-19000,fleet,w4-1000}-{floor,server}-*.json
    for round in $(seq 1 "$rounds"); do
        for scenario in $scenarios; do
            run_one "$scenario" floor "$round"
            run_one "$scenario" server "$round"
        done
    done
    log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 scripts/lib/ingest_table.py "$out" "$scenarios" | tee "$out/table.txt"
fi

if [ "$what" = connections ] || [ "$what" = all ]; then
    chargers=50000
    if [ "$limit" != unlimited ] && [ $((limit - 1000)) -lt "$chargers" ]; then
        chargers=$((limit - 1000))
        log "the open-file limit is $limit here (ulimit -Hn): measuring $chargers connections, not 50,000"
    fi
    start_server
    log "connections: $chargers idle chargers heartbeating every 60 s"
    "$loadgen_bin" --url "ws://127.0.0.1:$target_port/ocpp" --chargers "$chargers" --scenario heartbeat \
        --interval 60s --ramp-up 60s --duration 30s --source-addresses 127.0.0.2-127.0.0.40 \
        --event-loops 2 --server-pid "$target_pid" --json "$out/connections.json"
    stop_target
fi
