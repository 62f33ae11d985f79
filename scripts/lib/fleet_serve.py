"""Phase "serve" of scripts/benchmark-fleet.sh: starts `ocpp-server serve` in a work directory
that FleetBenchmark loaded (its embedded defaults: ./data and ./ocpp_server.db), measures the
startup until /health answers, the server's RSS and open files after the start and after the
queries, then single-client latencies (sequential requests on one keep-alive connection,
warm-up discarded, targets drawn at random with a fixed seed) of issue 14's history goals:
  a. one session raw:       GET /db/charge_sessions/{id}/meter-values?limit=10000
  b. one charger's month:   GET /db/chargers/{id}/meter-values?from&to&bucket=1h&agg=avg
     and the same by series:  ...&layout=series (values and counts as arrays per series)
  c. a site's day at 15 min: GET /db/sites/{id}/meter-values?from&to&bucket=15m&agg=sum
Every answer must be a 200 with the item count the data set implies, or the run fails.

Usage: fleet_serve.py SERVER_BIN WORK_DIR [REQUESTS] [WARMUP]
"""

import datetime
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_figures(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            status[name] = value.strip()
    files = len(os.listdir(f"/proc/{pid}/fd"))
    return f"RSS {status['VmRSS']} (peak {status['VmHWM']}), {files} open files, {status['Threads']} threads"


def iso(milliseconds):
    return datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    server_bin, work = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    with open(os.path.join(work, "fleet.json")) as f:
        fleet = json.load(f)
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), LOG_LEVEL="warning")
    for name in ("DATA_DIR", "DATABASE_URL"):
        env.pop(name, None)
    log = open(os.path.join(work, "server.log"), "w")
    started = time.monotonic()
    server = subprocess.Popen([server_bin, "serve"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    summary = []
    try:
        while True:
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}; see {work}/server.log")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 900:
                sys.exit("the server did not answer /health within 900 s")
            time.sleep(0.01)
        startup = time.monotonic() - started
        summary.append(("startup", f"{startup * 1000:.0f} ms until /health answered"))
        summary.append(("server after start", process_figures(server.pid)))

        token = subprocess.run(
            [server_bin, "token", "create", "--role", "admin", "--name", "fleet-benchmark"],
            cwd=work, env=env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        def get(path):
            began = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - began) * 1000
            if response.status != 200:
                sys.exit(f"GET {path}: {response.status} {body[:300]!r}")
            return elapsed, json.loads(body), len(body)

        rng = random.Random(14)
        start, days = fleet["start_ms"], fleet["days"]
        day_ms = 86_400_000
        hours = days * 24
        series = fleet["connectors"] * fleet["measurands"]
        site_ids, charger_ids = fleet["site_ids"], fleet["charger_ids"]
        full_sites = fleet["chargers"] // fleet["site_size"]

        def session():
            transaction, points = rng.choice(fleet["sessions"])
            def check(answer):
                items = len(answer["items"])
                if items != points or answer["next_cursor"] is not None:
                    return f"{items} items and cursor {answer['next_cursor']}, expected {points} and none"
                return None
            return f"/db/charge_sessions/{transaction}/meter-values?limit=10000", check, points

        def charger_month():
            charger = rng.randint(charger_ids[0], charger_ids[1])
            path = (f"/db/chargers/{charger}/meter-values?from={iso(start)}&to={iso(start + days * day_ms)}"
                    "&bucket=1h&agg=avg")
            def check(answer):
                items = len(answer["items"])
                return None if items == series * hours else f"{items} buckets, expected {series * hours}"
            return path, check, series * hours

        def charger_month_by_series():
            charger = rng.randint(charger_ids[0], charger_ids[1])
            path = (f"/db/chargers/{charger}/meter-values?from={iso(start)}&to={iso(start + days * day_ms)}"
                    "&bucket=1h&agg=avg&layout=series")
            def check(answer):
                entries = answer["series"]
                filled = sum(1 for entry in entries for count in entry["counts"] if count > 0)
                if len(entries) != series or filled != series * hours:
                    return f"{len(entries)} series with {filled} buckets, expected {series} with {series * hours}"
                return None
            return path, check, series * hours

        def site_day():
            site = rng.randint(site_ids[0], site_ids[0] + max(0, full_sites - 1))
            day = start + rng.randrange(days) * day_ms
            path = f"/db/sites/{site}/meter-values?from={iso(day)}&to={iso(day + day_ms)}&bucket=15m&agg=sum"
            def check(answer):
                items = answer["items"]
                size = fleet["site_size"] if full_sites else fleet["chargers"]
                if len(items) != 96 or any(item["chargers"] != size for item in items):
                    reporting = sorted({item["chargers"] for item in items})
                    return f"{len(items)} buckets with {reporting} chargers each, expected 96 with {size}"
                return None
            return path, check, 96

        goals = [
            ("a. one session raw", session, "goal p50/p99 5/10 ms"),
            (f"b. one charger's {days} days, 1h avg", charger_month, "goal p50/p99 5/10 ms"),
            (f"b. the same, layout=series", charger_month_by_series, "goal p50/p99 5/10 ms"),
            ("c. one site's day, 15m sum", site_day, "goal 50 ms"),
        ]
        for name, target, goal in goals:
            latencies = []
            sizes = []
            for index in range(warmup + requests):
                path, check, expected = target()
                elapsed, answer, size = get(path)
                sizes.append(size)
                problem = check(answer)
                if problem:
                    sys.exit(f"GET {path}: {problem}")
                if index == 0:
                    print(f"  {name}: e.g. GET {path} -> {expected} items", flush=True)
                if index >= warmup:
                    latencies.append(elapsed)
            latencies.sort()
            sizes.sort()
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            summary.append((name, f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms "
                                  f"({requests} requests after {warmup} warm-up, median answer "
                                  f"{sizes[len(sizes) // 2] / 1024:.0f} KiB; {goal})"))
        summary.append(("server after queries", process_figures(server.pid)))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
    print("summary (serve):")
    for name, value in summary:
        print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
