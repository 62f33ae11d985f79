#!/usr/bin/env bash
# What authentication costs a request: GET /db/chargers/{id} with wrk, side by side on one
# SQLite database, in rounds that alternate the modes so that a noisy machine hits them alike:
#   off      a server with API_AUTH_DISABLED=true (no token checked)
#   token    a stored bearer token (analyst, no company): digest + 5 s cache
#   jwt      an ES256 JWT verified against API_JWKS_FILE (analyst, no company), cached alike
#   tenant   a bearer token limited to the charger's company (analyst): the row is read
#            with the company condition (a join through the site)
# Prints each mode's median requests/s and its ratio to "off" (the goal: at most 5 % fewer,
# a ratio of 0.95 or more).
# Usage: scripts/benchmark-auth.sh   (ROUNDS=5, DURATION=10s, CONNECTIONS=32, THREADS=1,
#   SKIP_BUILD=1 to use the release binary already built)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

rounds=${ROUNDS:-5}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-1}
ensure_swift
ensure_apt_packages liblz4-dev pkg-config wrk curl python3 python3-venv

if [ -z "${SKIP_BUILD:-}" ]; then
    log "building ocpp-server (release)"
    swift build -c release --product ocpp-server >/dev/null
fi
server_bin="$(swift build -c release --show-bin-path)/ocpp-server"

# The JWT is signed with a fresh P-256 key by the PyPI cryptography package, in a venv of its own.
venv=${BENCH_VENV:-/tmp/ocpp-bench-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cryptography' 2>/dev/null; then
    log "installing the cryptography package into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q cryptography
fi

work=$(mktemp -d /tmp/ocpp-bench-auth.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

token=$("$venv/bin/python" - "$work/jwks.json" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

key = ec.generate_private_key(ec.SECP256R1())
numbers = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "bench",
       "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
with open(sys.argv[1], "w") as file:
    json.dump({"keys": [jwk]}, file)
header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": "bench"}).encode())
claims = b64(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400, "role": "analyst"}).encode())
r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
print(f"{header}.{claims}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
PY
)
jwt=$token

# wait_for PORT LOG: until the server on PORT answers /health (its log and a failure otherwise).
wait_for() {
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$2"
    return 1
}

export DATABASE_URL="sqlite:///$work/ocpp.db" HOST=127.0.0.1 LOG_LEVEL=warning
off_port=$(free_port)
on_port=$(free_port)
(cd "$work" && PORT=$off_port DATA_DIR="$work/data-off" API_AUTH_DISABLED=true \
    exec "$server_bin" serve) >"$work/off.log" 2>&1 &
pids+=($!)
wait_for "$off_port" "$work/off.log"

post() {
    curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$off_port$1" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
company=$(post /db/companies/ '{"name":"Bench"}')
site=$(post /db/sites/ "{\"company_id\":$company,\"name\":\"Bench site\"}")
charger=$(post /db/chargers/ "{\"site_id\":$site,\"charge_point_id\":\"BENCH-1\"}")
bearer=$("$server_bin" token create --role analyst --name bench | tail -1)
tenant=$("$server_bin" token create --role analyst --name bench-tenant --company "$company" | tail -1)

(cd "$work" && PORT=$on_port DATA_DIR="$work/data-on" API_JWKS_FILE="$work/jwks.json" \
    exec "$server_bin" serve) >"$work/on.log" 2>&1 &
pids+=($!)
wait_for "$on_port" "$work/on.log"
for credential in "$bearer" "$jwt" "$tenant"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $credential" \
        "http://127.0.0.1:$on_port/db/chargers/$charger")
    [ "$status" = 200 ] || { log "a credential was refused ($status)"; cat "$work/on.log"; exit 1; }
done

off_pid=${pids[0]}
on_pid=${pids[1]}
ticks=$(getconf CLK_TCK)

# cpu PID: the process's user + system CPU time so far, in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure MODE: "requests/s server-CPU-µs-per-request" of one wrk run. The CPU time per
# request is what a machine shared with other work cannot blur as much as the rate.
measure() {
    local url="http://127.0.0.1:$on_port/db/chargers/$charger" pid=$on_pid header=()
    case $1 in
        off) url="http://127.0.0.1:$off_port/db/chargers/$charger"; pid=$off_pid ;;
        token) header=(-H "Authorization: Bearer $bearer") ;;
        jwt) header=(-H "Authorization: Bearer $jwt") ;;
        tenant) header=(-H "Authorization: Bearer $tenant") ;;
    esac
    local before after output
    before=$(cpu "$pid")
    output=$(wrk -t"$threads" -c"$connections" -d"$duration" "${header[@]}" "$url")
    after=$(cpu "$pid")
    if grep -q Non-2xx <<<"$output"; then log "non-2xx answers in $1: $output"; exit 1; fi
    awk -v cpu=$((after - before)) -v ticks="$ticks" '
        / requests in / { requests = $1 }
        /Requests\/sec/ { rate = $2 }
        END { printf "%s %.1f\n", rate, cpu / ticks * 1e6 / requests }' <<<"$output"
}

modes=(off token jwt tenant)
declare -A rates cpus
for round in $(seq 1 "$rounds"); do
    for mode in "${modes[@]}"; do
        read -r rate per <<<"$(measure "$mode")"
        rates[$mode]="${rates[$mode]:-} $rate"
        cpus[$mode]="${cpus[$mode]:-} $per"
        log "round $round $mode: $rate requests/s, $per µs server CPU per request"
    done
done

python3 - "${modes[@]}" <<PY
import statistics, sys
rates = {$(for mode in "${modes[@]}"; do printf '"%s": [%s], ' "$mode" "$(echo ${rates[$mode]} | tr ' ' ',')"; done)}
cpus = {$(for mode in "${modes[@]}"; do printf '"%s": [%s], ' "$mode" "$(echo ${cpus[$mode]} | tr ' ' ',')"; done)}
base_rate = statistics.median(rates["off"])
base_cpu = statistics.median(cpus["off"])
print(f"GET /db/chargers/{{id}}, wrk -t$threads -c$connections -d$duration, $rounds rounds, $(nproc) cores")
print("| mode | median requests/s | ratio to off | median server CPU per request | ratio to off | runs (requests/s) |")
print("|---|---|---|---|---|---|")
for mode in sys.argv[1:]:
    rate = statistics.median(rates[mode])
    cpu = statistics.median(cpus[mode])
    runs = ", ".join(f"{value:,.0f}" for value in rates[mode])
    print(f"| {mode} | {rate:,.0f} | {rate / base_rate:.3f} | {cpu:.1f} µs | {cpu / base_cpu:.3f} | {runs} |")
PY
