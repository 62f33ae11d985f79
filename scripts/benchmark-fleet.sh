#!/usr/bin/env bash
# Issue 14's fleet-scale goals. Builds the server and Benchmarks' FleetBenchmark in release
# mode, then:
#   load:  FleetBenchmark generates the fleet (CHARGERS x CONNECTORS connectors x MEASURANDS
#          values every 60 s, idle too, SESSIONS sessions per connector per day, for DAYS days;
#          deterministic) and writes it into a fresh work directory laid out as the server's
#          embedded defaults expect: ./data (the time-series store, through the TimeSeries
#          library with the server's options, in time order across the fleet, one append
#          per minute, memtables flushed at 10 minutes of the data's age, each day compacted
#          by the server's maintenance passes at its end; COMPACTION=days: compact() of whole
#          days as TimeSeriesBenchmark does) and ./ocpp_server.db (company, sites of 100 chargers,
#          chargers, connectors and the charge sessions whose ids are the samples'
#          transactionIds, through the Relational library). Reports points, append rate (wall
#          and per core), series, segments, partitions, bytes per point on disk, peak RSS and
#          open files.
#   serve: starts `ocpp-server serve` in that directory (loopback, a free port), reports its
#          startup time, RSS and open files, and single-client p50/p99/max latencies (one
#          keep-alive connection, 20 warm-up requests, REQUESTS measured, random targets) of
#          one session raw, one charger's month at bucket=1h&agg=avg and one site's day at
#          bucket=15m&agg=sum (scripts/lib/fleet_serve.py).
# The defaults are the full set: 1000 x 2 x 10 x 1440 x 30 = 864 M points, about 1.1 GB on
# disk (1.15-1.2 bytes per point in data/, 55 MB of SQLite), about 20 minutes on 2 busy cores
# (a day of the fleet: 17 s of appends, 6 s of compaction; 240,000 sessions at about 1,000/s).
# Usage: scripts/benchmark-fleet.sh [--chargers N] [--connectors N] [--measurands 1-10]
#            [--sessions-per-day N] [--days N] [--dir DIR] [--requests N] [--phase load|serve|all]
#            [--compaction passes|days]
# or the same through CHARGERS, CONNECTORS, MEASURANDS, SESSIONS_PER_DAY, DAYS, FLEET_DIR,
# REQUESTS, PHASE, COMPACTION. FLEET_DIR must not exist yet for the load; without it a temporary
# directory is used and removed at the end. --phase serve reuses a loaded --dir.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

chargers=${CHARGERS:-1000}
connectors=${CONNECTORS:-2}
measurands=${MEASURANDS:-10}
sessions=${SESSIONS_PER_DAY:-4}
days=${DAYS:-30}
dir=${FLEET_DIR:-}
requests=${REQUESTS:-200}
phase=${PHASE:-all}
compaction=${COMPACTION:-passes}
while [ $# -gt 0 ]; do
    case "$1" in
        --chargers) chargers=$2 ;;
        --connectors) connectors=$2 ;;
        --measurands) measurands=$2 ;;
        --sessions-per-day) sessions=$2 ;;
        --days) days=$2 ;;
        --dir) dir=$2 ;;
        --requests) requests=$2 ;;
        --phase) phase=$2 ;;
        --compaction) compaction=$2 ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift 2
done
case "$phase" in load | serve | all) ;; *) log "--phase must be load, serve or all"; exit 2 ;; esac
if [ "$phase" = serve ] && [ ! -f "${dir:-/nonexistent}/fleet.json" ]; then
    log "--phase serve needs --dir of a loaded fleet (with fleet.json)"
    exit 2
fi

ensure_swift
ensure_apt_packages liblz4-dev pkg-config python3

log "building ocpp-server and FleetBenchmark (release)"
swift build -c release --product ocpp-server >/dev/null
server_bin="$(swift build -c release --show-bin-path)/ocpp-server"
(cd Benchmarks && swift build -c release --product FleetBenchmark >/dev/null)
bench_bin="$(cd Benchmarks && swift build -c release --show-bin-path)/FleetBenchmark"

if [ -z "$dir" ]; then
    dir=$(mktemp -d /tmp/ocpp-bench-fleet.XXXXXX)
    trap 'rm -rf "$dir"' EXIT
fi
if [ "$phase" != serve ]; then
    mkdir -p "$dir"
    log "load: $chargers chargers x $connectors connectors x $measurands measurands, $sessions sessions/day, $days days into $dir"
    "$bench_bin" --directory "$dir" --chargers "$chargers" --connectors "$connectors" \
        --measurands "$measurands" --sessions-per-day "$sessions" --days "$days" --compaction "$compaction" \
        | tee "$dir/load.log"
    du -sh "$dir/data" "$dir/ocpp_server.db"* | sed 's/^/  disk: /'
fi
if [ "$phase" != load ]; then
    log "serve: ocpp-server on $dir"
    python3 scripts/lib/fleet_serve.py "$server_bin" "$dir" "$requests" 20 | tee "$dir/serve.log"
fi

log "summary"
for file in "$dir"/load.log "$dir"/serve.log; do
    if [ -f "$file" ]; then
        awk '/^summary/ { p = 1; print; next } p && /^  / { print; next } { p = 0 }' "$file"
    fi
done
