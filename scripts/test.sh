#!/usr/bin/env bash
# Runs the whole test suite: format lint, a warning-free build, the generated protocol code
# checked against the schemas, every test (with a throwaway PostgreSQL cluster whose URL the
# tests read from OCPP_TEST_POSTGRES_URL), a cluster of three nodes behind nginx with one
# killed mid-ingest (scripts/cluster-test.sh), then schemathesis against the running server's
# /openapi.json: every check with an admin token, and no write that succeeds with an analyst's;
# last, the operator console in headless Chromium (scripts/console-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

ensure_swift
ensure_apt_packages liblz4-dev pkg-config postgresql python3 openssl

# --- A throwaway PostgreSQL cluster -------------------------------------------------------
pg_bin=""
for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && pg_bin="$candidate"
done
[ -n "$pg_bin" ] || { log "PostgreSQL's initdb was not found under /usr/lib/postgresql"; exit 1; }

pg_root=$(mktemp -d /tmp/ocpp-test-pg.XXXXXX)
pg_port=$(free_port)
as_postgres=()
if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
    chown postgres:postgres "$pg_root"
    as_postgres=(runuser -u postgres --)
fi
stop_postgres() {
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_root"
}
trap stop_postgres EXIT

log "starting a throwaway PostgreSQL on 127.0.0.1:$pg_port"
"${as_postgres[@]}" "$pg_bin/initdb" -D "$pg_root/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
"${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/postgres.log" -w -t 60 start \
    -o "-p $pg_port -k $pg_root -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
"${as_postgres[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres ocpp_test
export OCPP_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/ocpp_test?sslmode=disable"

# --- The independent OCPP peer for the interop test (PyPI: ocpp, websockets), schemathesis ---
venv=/tmp/ocpp-server-test-venv
if [ ! -x "$venv/bin/python" ]; then
    log "creating a Python virtual environment for the interop test in $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'ocpp==2.1.0' 'websockets>=13' \
    'cryptography>=42' 'schemathesis>=4.3,<5'
export OCPP_TEST_PYTHON="$venv/bin/python"
# Swagger UI's files for /docs (the tests and the schemathesis server serve them): the same
# pinned copy scripts/run.sh installs; only its dist folder is used, so no dependencies.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps 'flask-swagger-ui==5.34.0'
SWAGGER_UI_DIR="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/flask_swagger_ui/dist"
export SWAGGER_UI_DIR

# --- Lint and generated code ------------------------------------------------------------
log "swift format lint"
swift format lint --strict --recursive Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/Benchmarks \
    Benchmarks/Sources

log "checking that the generated protocol code matches schemas/ocpp16"
python3 scripts/generate-protocol.py --check

# --- Build without warnings in our code, then test -------------------------------------
log "building (debug, with tests)"
build_log=$(mktemp)
swift build --build-tests 2>&1 | tee "$build_log"
if grep -E "^$PWD/(Sources|Tests)/.*(warning|error):" "$build_log" >/dev/null; then
    grep -E "^$PWD/(Sources|Tests)/.*(warning|error):" "$build_log" | sort -u >&2
    log "the build has warnings in the project's code"
    exit 1
fi
rm -f "$build_log"

# A hung test must not hold the run until CI's limit: after OCPP_TEST_MINUTES (20) the run
# fails, naming the tests that started and never ended (output line-buffered, so that none of
# their lines is still in a buffer).
test_minutes=${OCPP_TEST_MINUTES:-20}
log "running the tests (at most $test_minutes minutes)"
bin_dir="$(swift build --show-bin-path)"
test_log=$(mktemp)
set +e
OCPP_BIN_DIR="$bin_dir" timeout --kill-after=30s "${test_minutes}m" stdbuf -oL -eL swift test --skip-build 2>&1 |
    tee "$test_log"
test_status=${PIPESTATUS[0]}
set -e
if [ "$test_status" -eq 124 ] || [ "$test_status" -eq 137 ]; then
    log "the tests did not finish within $test_minutes minutes; started and never ended:"
    comm -23 <(sed -n 's/^.*◇ Test "\(.*\)" started\.$/\1/p' "$test_log" | sort -u) \
        <(sed -nE 's/^.*(✔|✘) Test "([^"]*)".*$/\2/p' "$test_log" | sort -u) >&2
fi
rm -f "$test_log"
[ "$test_status" -eq 0 ] || exit "$test_status"

# --- A cluster end to end: PostgreSQL, three nodes, nginx, a node killed mid-ingest ------
log "the cluster end to end (scripts/cluster-test.sh)"
OCPP_TEST_VENV="$venv" scripts/cluster-test.sh "$bin_dir"

# --- The API against its own OpenAPI document -----------------------------------------
log "schemathesis against /openapi.json of a running server (PostgreSQL)"
"${as_postgres[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres ocpp_schemathesis
api_dir=$(mktemp -d /tmp/ocpp-test-api.XXXXXX)
api_port=$(free_port)
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/ocpp_schemathesis?sslmode=disable"
# The tokens, made with the CLI before the server starts (the token alone is the last line).
admin_token=$("$bin_dir/ocpp-server" token create --role admin --name schemathesis-admin 2>/dev/null | tail -1)
analyst_token=$("$bin_dir/ocpp-server" token create --role analyst --name schemathesis-analyst 2>/dev/null | tail -1)
[ -n "$admin_token" ] && [ -n "$analyst_token" ] || { log "ocpp-server token create printed no token"; exit 1; }
DATA_DIR="$api_dir/data" HOST=127.0.0.1 PORT="$api_port" LOG_LEVEL=warning "$bin_dir/ocpp-server" \
    >"$api_dir/server.log" 2>&1 &
api_pid=$!
unset DATABASE_URL
stop_api() { kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; }
trap 'stop_api; stop_postgres' EXIT
schemathesis_failed() {
    { grep -vE '^  - |^💡|^$' "$1" || true; } | tail -40 >&2
    log "$2 (log: $1)"
    tail -40 "$api_dir/server.log" >&2
    exit 1
}
# One worker: with two, hypothesis parses lambda sources from two threads at once, and the
# ast module of CPython 3.11 before 3.11.9 shares its recursion counter between threads
# ("SystemError: AST constructor recursion depth mismatch"), a failure of the tool, not the API.
# Every check, as admin. Revoking tokens is left out: ids 1, 2, ... are this run's own tokens
# (the tests revoke tokens; here a revoked admin token would turn the rest of the run into 401s).
# The live streams are left out too: a stream that is served never ends, and schemathesis
# would wait on it; LiveStreamTests checks their answers, errors included.
"$venv/bin/schemathesis" --config-file scripts/schemathesis-admin.toml run \
    "http://127.0.0.1:$api_port/openapi.json" --wait-for-schema 60 --checks all \
    --header "Authorization: Bearer $admin_token" --exclude-operation-id revoke_api_token \
    --exclude-operation-id stream_charger_meter_values --exclude-operation-id stream_site_meter_values \
    --exclude-operation-id stream_fleet_meter_values \
    --phases examples,coverage,fuzzing,stateful --max-examples 30 --workers 1 --seed 1 \
    --no-color >"$api_dir/schemathesis.log" 2>&1 ||
    schemathesis_failed "$api_dir/schemathesis.log" "schemathesis found answers that break the document"
{ grep -vE '^  - |^💡|^$' "$api_dir/schemathesis.log" || true; } | tail -12 >&2
# Read-only: every write (POST, PUT, PATCH, DELETE) with valid data and an analyst token must
# answer 403; scripts/schemathesis-read-only.toml makes any other status a failure.
"$venv/bin/schemathesis" --config-file scripts/schemathesis-read-only.toml run \
    "http://127.0.0.1:$api_port/openapi.json" --checks not_a_server_error \
    --header "Authorization: Bearer $analyst_token" --mode positive \
    --include-method POST --include-method PUT --include-method PATCH --include-method DELETE \
    --phases examples,coverage,fuzzing,stateful --max-examples 10 --workers 1 --seed 1 \
    --no-color >"$api_dir/schemathesis-analyst.log" 2>&1 ||
    schemathesis_failed "$api_dir/schemathesis-analyst.log" "a write with an analyst token did not answer 403"
{ grep -vE '^  - |^💡|^$' "$api_dir/schemathesis-analyst.log" || true; } | tail -8 >&2
stop_api
rm -rf "$api_dir"

# --- The console in a real browser --------------------------------------------------------
# Headless Chromium (Debian's chromium, chromium-driver) and Selenium against the debug
# server fed by ocpp-loadgen and a test charger; screenshots in .build/console-screenshots.
OCPP_TEST_VENV="$venv" scripts/console-test.sh "$bin_dir"
