#!/usr/bin/env bash
# The REST figures: builds the server in release mode, starts it on a fresh temporary data
# directory with the embedded defaults (SQLite), loads 30 days of one charger's meter history
# (6 measurands every 60 s, 259,200 samples) through /db/ocpp/meter-values, and measures with
# wrk (2 threads, 32 connections, 15 s each; every request with an admin bearer token):
#   1. GET /db/chargers/{id}
#   2. a one-day raw meter history (8,640 samples, one page)
#   3. a 30-day hourly aggregate (avg; 4,320 buckets)
# Usage: scripts/benchmark-rest.sh   (DURATION=15s, CONNECTIONS=32 to change the wrk run)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

duration=${DURATION:-15s}
connections=${CONNECTIONS:-32}
ensure_swift
ensure_apt_packages liblz4-dev pkg-config wrk curl python3

log "building ocpp-server (release)"
swift build -c release --product ocpp-server >/dev/null
server_bin="$(swift build -c release --show-bin-path)/ocpp-server"

work=$(mktemp -d /tmp/ocpp-bench-rest.XXXXXX)
port=$(free_port)
(cd "$work" && HOST=127.0.0.1 PORT="$port" LOG_LEVEL=warning exec "$server_bin" serve) >"$work/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done

# An admin token on the server's database (the same embedded defaults, from the same directory).
token=$(cd "$work" && "$server_bin" token create --role admin --name benchmark-rest | tail -1)
auth="Authorization: Bearer $token"

log "loading 30 days of meter history for one charger"
python3 - "$port" "$token" <<'PY'
import json, sys, urllib.request, datetime
port = sys.argv[1]
base = f"http://127.0.0.1:{port}"
def post(path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {sys.argv[2]}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)
post("/db/ocpp/charger/register", {"charge_point_id": "BENCH-1", "charge_point_vendor": "Bench",
                                   "charge_point_model": "REST"})
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
energy = 0.0
for hour in range(30 * 24):
    values = []
    for minute in range(60):
        time = start + datetime.timedelta(hours=hour, minutes=minute)
        energy += 183.3
        values.append({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "sampled_value": [
            {"value": f"{energy:.1f}", "unit": "Wh"},
            {"value": f"{11000 + (minute * 37) % 900}", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": f"{16 + (minute % 7) * 0.1:.1f}", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": f"{16 + (minute % 5) * 0.1:.1f}", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
            {"value": f"{16 + (minute % 3) * 0.1:.1f}", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
            {"value": f"{229 + (minute % 4)}", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
        ]})
    post("/db/ocpp/meter-values", {"charge_point_id": "BENCH-1", "connector_id": 1, "meter_value": values})
PY

charger_id=$(curl -sf -H "$auth" "http://127.0.0.1:$port/db/chargers/?charge_point_id=BENCH-1" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
day="from=2026-01-15T00:00:00Z&to=2026-01-16T00:00:00Z&limit=10000"
month="from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z&bucket=1h&agg=avg"
for target in "/db/chargers/$charger_id" "/db/chargers/$charger_id/meter-values?$day" \
    "/db/chargers/$charger_id/meter-values?$month"; do
    items=$(curl -sf -H "$auth" "http://127.0.0.1:$port$target" | python3 -c \
        'import json,sys; d=json.load(sys.stdin); print(len(d.get("items", [d])))')
    log "GET $target ($items items)"
    wrk -t2 -c"$connections" -d"$duration" --latency -H "$auth" "http://127.0.0.1:$port$target" \
        | grep -E "Requests/sec|Latency  |^ +(50|90|99)%"
done
