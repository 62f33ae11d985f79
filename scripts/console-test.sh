#!/usr/bin/env bash
# The console in a real browser: starts ocpp-server (SQLite, loopback, a data directory in
# /tmp) with an operator and an analyst token, feeds it with ocpp-loadgen's fleet, and runs
# Tests/Console/console_test.py (Selenium, headless Chromium), which adds its own test
# charger. Screenshots of every page go to .build/console-screenshots.
# scripts/test.sh runs it; alone: scripts/console-test.sh [SERVER_BINARY_DIR] (default: the
# debug build, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

started=$(date +%s)
ensure_swift
ensure_apt_packages chromium chromium-driver curl python3
venv=${OCPP_TEST_VENV:-/tmp/ocpp-server-test-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'ocpp==2.1.0' 'websockets>=13' \
    'selenium>=4.20,<5'

bin_dir=${1:-}
if [ -z "$bin_dir" ]; then
    swift build --product ocpp-server >/dev/null
    bin_dir="$(swift build --show-bin-path)"
fi
log "building ocpp-loadgen (debug)"
swift build --package-path Benchmarks --product ocpp-loadgen >/dev/null
loadgen="$(swift build --package-path Benchmarks --show-bin-path)/ocpp-loadgen"

work=$(mktemp -d /tmp/ocpp-test-console.XXXXXX)
port=$(free_port)
chargers=6
export DATABASE_URL="sqlite:///$work/console.db"
operator_token=$("$bin_dir/ocpp-server" token create --role operator --name console-operator 2>/dev/null | tail -1)
analyst_token=$("$bin_dir/ocpp-server" token create --role analyst --name console-analyst 2>/dev/null | tail -1)
[ -n "$operator_token" ] && [ -n "$analyst_token" ] || { log "ocpp-server token create printed no token"; exit 1; }
DATA_DIR="$work/data" HOST=127.0.0.1 PORT="$port" LOG_LEVEL=warning OCPP_ACCEPT_UNKNOWN_ID_TAGS=true \
    "$bin_dir/ocpp-server" >"$work/server.log" 2>&1 &
server_pid=$!
unset DATABASE_URL
loadgen_pid=""
cleanup() {
    [ -n "$loadgen_pid" ] && stop_process "$loadgen_pid"
    stop_process "$server_pid"
}
trap cleanup EXIT
wait_until_healthy "http://127.0.0.1:$port" "$work/server.log"
# A small fleet: MeterValues every 2 s, a StatusNotification every 15 s per charger.
"$loadgen" --scenario fleet --chargers "$chargers" --interval 2s --status-interval 15s --heartbeat-interval 30s \
    --duration 900s --url "ws://127.0.0.1:$port/ocpp" --id-prefix LG >"$work/loadgen.log" 2>&1 &
loadgen_pid=$!

log "the console in headless Chromium against 127.0.0.1:$port ($chargers loadgen chargers and a test charger)"
if ! CONSOLE_URL="http://127.0.0.1:$port" OCPP_URL="ws://127.0.0.1:$port/ocpp" OPERATOR_TOKEN="$operator_token" \
    ANALYST_TOKEN="$analyst_token" LOADGEN_CHARGERS="$chargers" SCREENSHOT_DIR="$PWD/.build/console-screenshots" \
    OCPP_SERVER_BIN="$bin_dir/ocpp-server" CONSOLE_DATABASE_URL="sqlite:///$work/console.db" SE_OFFLINE=true \
    "$venv/bin/python" Tests/Console/console_test.py; then
    log "the console test failed; the server's log:"
    tail -40 "$work/server.log" >&2
    tail -5 "$work/loadgen.log" >&2
    exit 1
fi
cleanup
trap - EXIT
rm -rf "$work"
log "console test done in $(($(date +%s) - started)) s; screenshots in .build/console-screenshots"
