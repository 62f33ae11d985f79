#!/usr/bin/env bash
# The charger security figures (OCPP security profiles 1 and 2). Builds the server and
# ocpp-loadgen in release mode, makes a throwaway CA and server certificate with openssl,
# provisions chargers of profile 1 (S1-n) and profile 2 (S2-n) with an authorization key
# each (the first 20 bytes of SHA-256("bench:" + id), as `ocpp-loadgen --auth-key-per-charger`
# derives them), and measures, each phase on a freshly started server over the same data:
#   storm1      reconnect storm, profile 1 (ws:// + HTTP Basic): every charger connects at
#               once and boots; seconds until all are Accepted
#   storm2      the same with profile 2 (wss:// + HTTP Basic)
#   throughput  MeterValues/s at window 1 (one call in flight per charger, as chargers do)
#               and server CPU per message, plain (profile 1) and TLS (profile 2) alternately
#   memory      server memory per idle connection: resident size before and after connecting
#               idle chargers over TLS (and over plain ws, for comparison)
# and prints one table of every phase whose JSON is in $OUT (default /tmp/ocpp-bench-security).
# Usage: scripts/benchmark-security.sh [all|storm|throughput|memory]
# Settings (environment): STORM_CHARGERS (19000, or what the open-file limit allows),
#   STORM_PROFILES ("1 2": which storms to run), STORM_LOADGEN_OPTIONS (more ocpp-loadgen options),
#   IDLE_CHARGERS (as many), THROUGHPUT_CHARGERS (1000), ROUNDS (3), DURATION (20s),
#   KEY_TYPE (ec: P-256; rsa: RSA 2048), SKIP_BUILD=1 to use the binaries already built
#   (SERVER_BIN, LOADGEN_BIN: other binaries), STATE_DIR=DIR to keep the certificates and the
#   provisioned server data in DIR for the next run (provisioning is skipped when DIR already
#   holds as many chargers), TLS_MAX_VERSION=1.2 to keep wss:// at TLS 1.2
#   (the whitepaper's version; otherwise client and server agree on TLS 1.3).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

what=${1:-all}
out=${OUT:-/tmp/ocpp-bench-security}
rounds=${ROUNDS:-3}
duration=${DURATION:-20s}
throughput_chargers=${THROUGHPUT_CHARGERS:-1000}
key_type=${KEY_TYPE:-ec}
mkdir -p "$out"
ensure_swift
ensure_apt_packages liblz4-dev pkg-config openssl curl python3

if [ -z "${SKIP_BUILD:-}" ]; then
    log "building ocpp-server and ocpp-loadgen (release)"
    swift build -c release --product ocpp-server >/dev/null
    (cd Benchmarks && swift build -c release --product ocpp-loadgen >/dev/null)
fi
server_bin=${SERVER_BIN:-"$(swift build -c release --show-bin-path)/ocpp-server"}
loadgen_bin=${LOADGEN_BIN:-"$(cd Benchmarks && swift build -c release --show-bin-path)/ocpp-loadgen"}

# One socket per charger in each process (the server's and the load generator's limits are
# their own); keep 1,000 descriptors for everything else.
ulimit -n "$(ulimit -Hn)"
limit=$(ulimit -Hn)
most=19000
if [ "$limit" != unlimited ] && [ $((limit - 1000)) -lt "$most" ]; then
    most=$((limit - 1000))
    log "the open-file limit is $limit here (ulimit -Hn): at most $most chargers, not 19,000"
fi
storm_chargers=${STORM_CHARGERS:-$most}
idle_chargers=${IDLE_CHARGERS:-$most}
provisioned=$storm_chargers
for count in "$idle_chargers" "$throughput_chargers"; do
    [ "$count" -gt "$provisioned" ] && provisioned=$count
done

if [ -n "${STATE_DIR:-}" ]; then
    work=$STATE_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/ocpp-bench-security.XXXXXX)
fi
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    [ -n "${STATE_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ -f "$work/server.pem" ] && [ -f "$work/key-type-$key_type" ]; then
    log "using the CA and server certificate in $work"
else
    log "making a throwaway CA and server certificate ($key_type) in $work"
    make_key() {
        if [ "$key_type" = rsa ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
        else
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
        fi
    }
    make_key "$work/ca.key"
    openssl req -x509 -new -key "$work/ca.key" -sha256 -days 2 -subj "/CN=ocpp-bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$work/ca.pem" 2>/dev/null
    make_key "$work/server.key"
    openssl req -new -key "$work/server.key" -subj "/CN=127.0.0.1" -out "$work/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$work/server.ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
        -sha256 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null
    rm -f "$work"/key-type-*
    touch "$work/key-type-$key_type"
fi

port=$(free_port)
tls_port=$(free_port)
while [ "$tls_port" = "$port" ]; do tls_port=$(free_port); done

# The server keeps its database and time series in $work/server, across restarts.
mkdir -p "$work/server"
start_server() {
    (cd "$work/server" && HOST=127.0.0.1 PORT="$port" TLS_PORT="$tls_port" TLS_CERT_FILE="$work/server.pem" \
        TLS_KEY_FILE="$work/server.key" OCPP_DEFAULT_SECURITY_PROFILE=1 LOG_LEVEL=error \
        exec "$server_bin" serve) >>"$work/server.log" 2>&1 &
    server_pid=$!
    wait_until_healthy "http://127.0.0.1:$port" "$work/server.log"
}
stop_server() {
    stop_process "$server_pid"
    server_pid=
}

# provision PREFIX COUNT PROFILE: creates PREFIX-0 ... with the security profile and sets
# each one's key, 32 requests at a time.
provision() {
    python3 - "http://127.0.0.1:$port" "$1" "$2" "$3" <<'PY'
import concurrent.futures, hashlib, http.client, json, sys, threading, time, urllib.parse
base, prefix, count, profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
address = urllib.parse.urlparse(base)
local = threading.local()

def request(method, path, body=None):
    if not hasattr(local, "connection"):
        local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(3):
        try:
            local.connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = local.connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            local.connection.close()
            local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    raise RuntimeError(f"{method} {path} failed three times")

def one(index):
    charge_point_id = f"{prefix}-{index}"
    status, body = request("POST", "/db/chargers", {"charge_point_id": charge_point_id, "security_profile": profile})
    if status == 409:  # already there (an earlier run): find it and set its profile
        status, body = request("GET", "/db/chargers/?charge_point_id=" + urllib.parse.quote(charge_point_id))
        charger = json.loads(body)["items"][0]
        request("PATCH", f"/db/chargers/{charger['id']}", {"security_profile": profile})
    elif status not in (200, 201):
        raise RuntimeError(f"creating {charge_point_id}: HTTP {status} {body[:300]!r}")
    else:
        charger = json.loads(body)
    key = hashlib.sha256(("bench:" + charge_point_id).encode()).digest()[:20].hex()
    status, body = request("POST", f"/db/chargers/{charger['id']}/authorization_key", {"authorization_key": key})
    if status != 200:
        raise RuntimeError(f"key of {charge_point_id}: HTTP {status} {body[:300]!r}")

started = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    for _ in pool.map(one, range(count), chunksize=64):
        pass
elapsed = time.monotonic() - started
print(f"==> provisioned {count} chargers {prefix}-n of profile {profile} in {elapsed:.1f} s "
      f"({2 * count / elapsed:.0f} requests/s)", file=sys.stderr)
PY
}

tls_options=(--ca-file "$work/ca.pem")
[ -n "${TLS_MAX_VERSION:-}" ] && tls_options+=(--tls-max-version "$TLS_MAX_VERSION")
loadgen() { "$loadgen_bin" "$@" 2>"$work/loadgen.err" | tee -a "$out/loadgen.log"; }
sources=127.0.0.2-127.0.0.40

if [ -f "$work/provisioned" ] && [ "$(cat "$work/provisioned")" -ge "$provisioned" ]; then
    log "using the $(cat "$work/provisioned") chargers of each profile provisioned in $work"
else
    start_server
    log "provisioning $provisioned chargers of profile 1 and $provisioned of profile 2"
    provision S1 "$provisioned" 1
    provision S2 "$provisioned" 2
    stop_server
    echo "$provisioned" >"$work/provisioned"
fi

if [ "$what" = storm ] || [ "$what" = all ]; then
    for profile in ${STORM_PROFILES:-1 2}; do
        if [ "$profile" = 1 ]; then
            set -- --url "ws://127.0.0.1:$port/ocpp"
        else
            set -- --url "wss://127.0.0.1:$tls_port/ocpp" "${tls_options[@]}"
        fi
        start_server
        log "storm, profile $profile: $storm_chargers chargers at once ($2)"
        loadgen --storm "$@" --id-prefix "S$profile" --chargers "$storm_chargers" \
            --auth-key-per-charger --source-addresses "$sources" --connect-timeout 30s --storm-timeout 60s \
            --server-pid "$server_pid" --json "$out/storm$profile.json" ${STORM_LOADGEN_OPTIONS:-} \
            || log "storm, profile $profile: incomplete"
        stop_server
    done
fi

if [ "$what" = throughput ] || [ "$what" = all ]; then
    start_server
    for round in $(seq 1 "$rounds"); do
        for mode in plain tls; do
            if [ "$mode" = plain ]; then
                set -- --url "ws://127.0.0.1:$port/ocpp" --id-prefix S1
            else
                set -- --url "wss://127.0.0.1:$tls_port/ocpp" "${tls_options[@]}" --id-prefix S2
            fi
            log "throughput round $round, $mode: $throughput_chargers chargers, window 1, $duration"
            loadgen "$@" --chargers "$throughput_chargers" --auth-key-per-charger --sampled-values 10 --window 1 \
                --ramp-up 3s --duration "$duration" --server-pid "$server_pid" \
                --json "$out/throughput-$mode-$round.json" | grep -E "confirmed messages/s|server CPU|latency|problems" \
                || log "throughput round $round, $mode: the load generator failed"
        done
    done
    stop_server
fi

if [ "$what" = memory ] || [ "$what" = all ]; then
    for mode in tls plain; do
        if [ "$mode" = plain ]; then
            set -- --url "ws://127.0.0.1:$port/ocpp" --id-prefix S1
        else
            set -- --url "wss://127.0.0.1:$tls_port/ocpp" "${tls_options[@]}" --id-prefix S2
        fi
        start_server
        sleep 2
        log "idle memory, $mode: $idle_chargers chargers heartbeating every 10 min"
        loadgen "$@" --chargers "$idle_chargers" --auth-key-per-charger --scenario heartbeat --interval 600s \
            --duration 10s --source-addresses "$sources" --server-pid "$server_pid" \
            --json "$out/idle-$mode.json" | grep -E "chargers connected|server memory|problems" \
            || log "idle memory, $mode: the load generator failed"
        stop_server
    done
fi

python3 - "$out" "$key_type" <<'PY'
import glob, json, os, statistics, sys
out, key_type = sys.argv[1], sys.argv[2]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None
rows = []
for profile, goal in ((1, 10), (2, 30)):
    storm = load(f"storm{profile}.json")
    if storm:
        seconds = f"{storm['seconds']:.2f} s" if storm.get("seconds") is not None else "incomplete"
        failures = sum(storm["failures"].values())
        spread = (f"p50 {storm['p50']:.2f} s, p99 {storm['p99']:.2f} s; " if storm.get("p50") is not None
                  else f"{storm['accepted']} accepted; ")
        rows.append((f"storm, profile {profile}", f"{storm['chargers']} chargers: all booted in {seconds} "
                     f"({spread}{failures} failed attempts; "
                     f"server CPU {storm.get('server_cpu_ms_per_charger', 0):.2f} ms per charger, "
                     f"load generator CPU {storm.get('loadgen_cpu_seconds', 0):.1f} s)",
                     f"<= {goal} s"))
plain = [load(os.path.basename(p)) for p in sorted(glob.glob(os.path.join(out, "throughput-plain-*.json")))]
tls = [load(os.path.basename(p)) for p in sorted(glob.glob(os.path.join(out, "throughput-tls-*.json")))]
if plain and tls:
    def describe(runs):
        rates = [r["confirmed_messages_per_second"] for r in runs]
        cpu = [r.get("server_cpu_us_per_message", 0) for r in runs]
        return statistics.median(rates), statistics.median(cpu), rates
    p_rate, p_cpu, p_rates = describe(plain)
    t_rate, t_cpu, t_rates = describe(tls)
    rows.append(("MeterValues/s, plain", f"median {p_rate:.0f} ({', '.join(f'{r:.0f}' for r in p_rates)}); "
                 f"server {p_cpu:.1f} us CPU per message", ""))
    rows.append(("MeterValues/s, TLS", f"median {t_rate:.0f} ({', '.join(f'{r:.0f}' for r in t_rates)}); "
                 f"server {t_cpu:.1f} us CPU per message; {100 * t_rate / p_rate:.0f} % of plain", ">= 70 %"))
for mode, goal in (("tls", "<= 32 KiB"), ("plain", "")):
    idle = load(f"idle-{mode}.json")
    if idle and idle.get("server_rss_bytes_per_connection") is not None:
        rows.append((f"idle memory, {mode}", f"{idle['connected_chargers']} connections: "
                     f"{idle['server_rss_bytes_per_connection'] / 1024:.1f} KiB per connection "
                     f"({idle['server_rss_bytes'] / 1048576:.0f} MiB resident)", goal))
print()
tls_label = os.environ.get("TLS_MAX_VERSION") or "1.3 (negotiated)"
print(f"charger security benchmarks (server key {key_type}, TLS {tls_label})")
width = max(len(r[0]) for r in rows) if rows else 0
for name, value, goal in rows:
    print(f"  {name.ljust(width)}  {value}" + (f"   [goal {goal}]" if goal else ""))
PY
