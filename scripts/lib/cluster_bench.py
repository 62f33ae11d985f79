"""The measuring parts of scripts/benchmark-cluster.sh, against a running cluster
(scripts/lib/cluster.sh: PostgreSQL, nodes, nginx) whose run directory is --dir:

latency      one charger connected directly to node-1, answering every CALL at once; REST
             commands (change_configuration) one at a time on two keep-alive connections,
             alternately to node-1 (the charger's: local) and node-2 (forwarded by node-2 to
             node-1), and a third series straight to node-1's internal route (what node-2
             calls, with the cluster secret): per round p50/p90/p99 of each, the difference of
             the p50s (forwarded less local) and the share of it spent before node-1's
             internal route answers (forwarded less internal), then the medians over the
             rounds.
failover     chargers (WebSocket, answering at once, reconnecting after their own delay with
             jitter) connected through the balancer; per run one node killed with SIGKILL; the
             time until all of its chargers are connected and booted on the others, against
             each charger's own reconnect delay; the node is started again on its data before
             the next run (runs kill node-1, node-2, node-3, node-1, ...).
ingest-table the table of the ingest section from ocpp-loadgen's JSON files.
connections  several ocpp-loadgen processes at once through the balancer (each at most
             --per-process chargers), one MeterValues per charger per --interval; the
             established connections and resident memory of each node and of nginx, sampled
             while all are connected.

Run with the Python that has `websockets` (the test venv) for latency and failover; the other
two need only the standard library.
"""

import argparse
import asyncio
import glob
import http.client
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

from cluster_env import read_settings

COMMAND_BODY_KEY = "ClusterBenchKey"
# The latency section's series, in the order of odd rounds (even rounds reverse it).
NAMES = ("local", "forwarded", "internal")


def say(message):
    print("    " + message, flush=True)


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (sorted or not)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def table(header, rows):
    """A Markdown table, the columns padded."""
    widths = [max(len(str(row[index])) for row in [header] + rows) for index in range(len(header))]
    lines = ["| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + " |"
             for row in [header] + rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


class Cluster:
    """The running cluster as its run directory describes it."""

    def __init__(self, directory):
        self.directory = directory
        settings = read_settings(directory)
        count = int(settings["cluster_node_count"])
        self.ports = {"node-%d" % index: int(settings["cluster_node_port_%d" % index]) for index in range(1, count + 1)}
        token_path = os.path.join(directory, "admin-token")
        self.token = open(token_path).read().strip() if os.path.exists(token_path) else None

    def pid(self, node_id):
        with open(os.path.join(self.directory, node_id, "pid")) as file:
            return int(file.read().strip())

    def request(self, port, method, path, body=None, connection=None):
        """(status, text) of one request on `connection` (a new one to `port` if None)."""
        own = connection is None
        if own:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
        headers = {"Authorization": "Bearer " + self.token} if self.token else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            if own:
                connection.close()

    def holders(self, port):
        """charge_point_id -> node_id from `GET /charge_points` on the node at `port` (every page)."""
        result, offset = {}, 0
        while True:
            status, text = self.request(port, "GET", "/charge_points?limit=1000&offset=%d" % offset)
            if status != 200:
                raise RuntimeError("GET /charge_points answered %s: %s" % (status, text[:200]))
            body = json.loads(text)
            for item in body["items"]:
                result[item["charge_point_id"]] = item.get("node_id")
            offset += len(body["items"])
            if not body["items"] or offset >= body["total"]:
                return result


# --- a charger that answers every CALL at once -------------------------------------------


class Charger:
    """Connects to `url`, boots, answers every CALL from the server with status Accepted
    (ChangeConfiguration, TriggerMessage, ... all accept that) and reconnects after its own
    delay (`delay` times 1 to 1 + `jitter`, drawn once) when its connection ends."""

    def __init__(self, charge_point_id, url, delay=1.0, jitter=0.0, seed=0, reconnects=True):
        self.charge_point_id = charge_point_id
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.own_delay = delay * (1 + jitter * random.Random(seed).random())
        self.reconnects = reconnects
        self.booted = False
        self.boots = []        # time.monotonic() of each accepted BootNotification
        self.losses = []       # time.monotonic() of each ended connection
        self.answered = 0
        self.booted_event = asyncio.Event()

    async def run(self, stop):
        import websockets
        sequence = 0
        while not stop.is_set():
            try:
                async with websockets.connect(self.url, subprotocols=["ocpp1.6"], open_timeout=20,
                                              ping_interval=None, close_timeout=2, max_queue=None) as socket:
                    sequence += 1
                    boot_id = "boot-%d" % sequence
                    await socket.send(json.dumps([2, boot_id, "BootNotification", {
                        "chargePointVendor": "ClusterBench", "chargePointModel": "Probe"}]))
                    stopping = asyncio.ensure_future(stop.wait())
                    try:
                        while True:
                            receiving = asyncio.ensure_future(socket.recv())
                            done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                            if receiving not in done:
                                receiving.cancel()
                                return
                            frame = json.loads(receiving.result())
                            if frame[0] == 2:
                                await socket.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                                self.answered += 1
                            elif frame[0] == 3 and frame[1] == boot_id:
                                if frame[2].get("status") != "Accepted":
                                    raise RuntimeError("%s: boot answered %s" % (self.charge_point_id, frame[2]))
                                self.boots.append(time.monotonic())
                                self.booted = True
                                self.booted_event.set()
                    finally:
                        stopping.cancel()
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                pass
            self.booted = False
            self.booted_event.clear()
            self.losses.append(time.monotonic())
            if not self.reconnects or stop.is_set():
                return
            try:
                await asyncio.wait_for(stop.wait(), self.own_delay)
            except asyncio.TimeoutError:
                pass


# --- latency --------------------------------------------------------------------------------


def latency(args):
    cluster = Cluster(args.dir)
    local, remote = cluster.ports["node-1"], cluster.ports["node-2"]
    charge_point_id = "CB-LATENCY-1"
    result = {}

    def measure():
        path = "/charge_points/%s/change_configuration" % charge_point_id
        connections = {"local": http.client.HTTPConnection("127.0.0.1", local, timeout=40),
                       "forwarded": http.client.HTTPConnection("127.0.0.1", remote, timeout=40),
                       "internal": http.client.HTTPConnection("127.0.0.1", local, timeout=40)}
        with open(os.path.join(args.dir, "cluster-secret")) as file:
            secret = file.read().strip()

        def one(name, sequence):
            body = {"key": COMMAND_BODY_KEY, "value": str(sequence)}
            began = time.perf_counter()
            if name == "internal":
                connection = connections[name]
                connection.request("POST", "/cluster/v1" + path, body=json.dumps(body).encode(),
                                   headers={"X-Cluster-Secret": secret, "Content-Type": "application/json"})
                response = connection.getresponse()
                status, text = response.status, response.read().decode()
            else:
                status, text = cluster.request(None, "POST", path, body, connections[name])
            elapsed = time.perf_counter() - began
            return status, text, elapsed

        # node-2 learns where the charger is from the presence row node-1 writes in the background.
        deadline = time.monotonic() + 30
        while True:
            status, text, _ = one("forwarded", 0)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("a command through node-2 still answers %s: %s" % (status, text))
            time.sleep(0.1)
        for sequence in range(args.warmup):
            for name in NAMES:
                status, text, _ = one(name, sequence)
                if status != 200 or json.loads(text) != {"status": "Accepted"}:
                    raise RuntimeError("warm-up %s answered %s: %s" % (name, status, text))
        rounds = []
        for round_index in range(args.rounds):
            samples = {name: [] for name in NAMES}
            order = NAMES if round_index % 2 == 0 else tuple(reversed(NAMES))
            for sequence in range(args.requests):
                for name in order:
                    status, text, elapsed = one(name, sequence)
                    if status != 200 or json.loads(text) != {"status": "Accepted"}:
                        raise RuntimeError("%s answered %s: %s" % (name, status, text))
                    samples[name].append(elapsed * 1000)
            rounds.append(samples)
        for connection in connections.values():
            connection.close()
        result["rounds"] = rounds

    async def main():
        stop = asyncio.Event()
        charger = Charger(charge_point_id, "ws://127.0.0.1:%d/ocpp" % local, reconnects=False)
        task = asyncio.create_task(charger.run(stop))
        await asyncio.wait_for(charger.booted_event.wait(), 30)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        failure = []

        def thread():
            try:
                measure()
            except Exception as error:  # reported below
                failure.append(error)
            finally:
                loop.call_soon_threadsafe(done.set)
                loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=thread, daemon=True).start()
        await done.wait()
        await task
        if failure:
            raise failure[0]
        return charger.answered

    answered = asyncio.run(main())
    rows, columns = [], {"local": [], "forwarded": [], "internal": [], "difference": [], "before": []}
    for index, samples in enumerate(result["rounds"], 1):
        cells = [str(index), str(len(samples["local"]))]
        p50 = {}
        for name in NAMES:
            p50[name] = percentile(samples[name], 0.5)
            figures = [p50[name], percentile(samples[name], 0.9), percentile(samples[name], 0.99)]
            columns[name].append(figures)
            cells.append(" / ".join("%.3f" % value for value in figures))
        columns["difference"].append(p50["forwarded"] - p50["local"])
        columns["before"].append(p50["forwarded"] - p50["internal"])
        cells.append("%+.3f" % (p50["forwarded"] - p50["local"]))
        cells.append("%+.3f" % (p50["forwarded"] - p50["internal"]))
        rows.append(cells)
    medians = ["median", str(len(result["rounds"][0]["local"]))]
    for name in NAMES:
        medians.append(" / ".join("%.3f" % statistics.median(figures[position] for figures in columns[name])
                                  for position in range(3)))
    medians.append("%+.3f" % statistics.median(columns["difference"]))
    medians.append("%+.3f" % statistics.median(columns["before"]))
    rows.append(["**%s**" % cell for cell in medians])
    print()
    print("Forwarded command latency against local: POST /charge_points/{id}/change_configuration, one at a "
          "time, in turn through node-1 (holds the charger), node-2 (forwards to node-1) and node-1's internal "
          "route /cluster/v1/... (what node-2 calls); ms")
    print()
    print(table(["round", "requests each", "local p50 / p90 / p99", "forwarded p50 / p90 / p99",
                 "internal p50 / p90 / p99", "added at p50 (forwarded - local)",
                 "on node-2's side at p50 (forwarded - internal)"], rows))
    print()
    say("the charger answered %d calls (warm-up and the first forwarded probe included)" % answered)


# --- failover -------------------------------------------------------------------------------


def failover(args):
    cluster = Cluster(args.dir)
    node_ids = sorted(cluster.ports)
    balancer = args.balancer.rstrip("/").replace("http://", "ws://", 1) + "/ocpp"
    results = []
    for run_index in range(args.runs):
        victim = node_ids[run_index % len(node_ids)]
        survivor = next(node_id for node_id in node_ids if node_id != victim)
        result = asyncio.run(failover_run(cluster, args, balancer, victim, survivor, run_index))
        results.append(result)
        say("run %d: %s killed holding %d chargers; all booted elsewhere %.2f s after the kill; "
            "the largest own delay %.2f s; at most %.2f s beyond a charger's own delay"
            % (run_index + 1, victim, result["moved"], result["all_booted"], result["largest_delay"],
               result["beyond"]))
        restart(cluster, victim, urllib.parse.urlparse(args.balancer).port)
    rows = []
    for index, result in enumerate(results, 1):
        rows.append([str(index), result["victim"], "%d / %d" % (result["moved"], args.chargers),
                     "%.2f" % result["lost"], "%.2f-%.2f" % (result["smallest_delay"], result["largest_delay"]),
                     "%.2f" % result["all_booted"], "%.2f" % result["beyond"],
                     "%.2f" % result["beyond_median"],
                     "yes" if result["all_booted"] <= result["largest_delay"] + 5 else "no"])
    rows.append(["**median**", "", "", "%.2f" % statistics.median(r["lost"] for r in results), "",
                 "**%.2f**" % statistics.median(r["all_booted"] for r in results),
                 "**%.2f**" % statistics.median(r["beyond"] for r in results),
                 "%.2f" % statistics.median(r["beyond_median"] for r in results), ""])
    print()
    print("Failover: %d chargers through nginx, kill -9 of one node; each charger reconnects %.1f s "
          "(times 1 to %.1f, its own draw) after its connection ends; seconds after the kill"
          % (args.chargers, args.reconnect_delay, 1 + args.jitter))
    print()
    print(table(["run", "killed", "its chargers / all", "all lost by", "own delays",
                 "all booted elsewhere", "max beyond own delay", "median beyond", "within delay + 5 s"], rows))
    print()


def restart(cluster, node_id, balancer_port):
    """Starts the killed node again on its data and waits until it is ready."""
    index = node_id.split("-")[1]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cluster-node.sh")
    # cluster-node.sh execs the server and records its pid: scripts/lib/cluster.sh stops it.
    subprocess.Popen([script, cluster.directory, index], start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if cluster.request(cluster.ports[node_id], "GET", "/ready")[0] == 200:
                # nginx skips a node that refused a connection for 5 s (fail_timeout), then
                # tries it with one request and counts it as up again only once that request
                # has ended: a WebSocket would hold the node at one new charger per 5 s for as
                # long as it stays open. Short requests through the balancer past the 5 s end
                # the trial, so the next run's chargers spread over all the nodes again.
                time.sleep(5.5)
                for _ in range(20):
                    cluster.request(balancer_port, "GET", "/health")
                    time.sleep(0.1)
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("%s was not ready again within 60 s" % node_id)


async def failover_run(cluster, args, balancer, victim, survivor, run_index):
    stop = asyncio.Event()
    chargers = [Charger("CB-FO-%d" % index, balancer, args.reconnect_delay, args.jitter,
                        seed=run_index * 100000 + index) for index in range(args.chargers)]
    tasks = []
    for charger in chargers:
        tasks.append(asyncio.create_task(charger.run(stop)))
        # A ramp: a few hundred connections a second, not a storm.
        await asyncio.sleep(1 / args.connect_rate)
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 60
    while not all(charger.booted for charger in chargers):
        if time.monotonic() > deadline:
            raise RuntimeError("%d of %d chargers booted within 60 s"
                               % (sum(charger.booted for charger in chargers), len(chargers)))
        await asyncio.sleep(0.1)
    # Each node's presence rows are written in the background: wait until every charger is listed.
    deadline = time.monotonic() + 30
    while True:
        holders = await loop.run_in_executor(None, cluster.holders, cluster.ports[survivor])
        if all(holders.get(charger.charge_point_id) for charger in chargers):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("not every charger listed by %s within 30 s" % survivor)
        await asyncio.sleep(0.5)
    moving = [charger for charger in chargers if holders[charger.charge_point_id] == victim]
    spread = {}
    for charger in chargers:
        spread[holders[charger.charge_point_id]] = spread.get(holders[charger.charge_point_id], 0) + 1
    say("run %d: chargers by node before the kill: %s" % (run_index + 1, ", ".join(
        "%s %d" % (node_id, spread.get(node_id, 0)) for node_id in sorted(cluster.ports))))
    if not moving:
        raise RuntimeError("the balancer gave %s no charger" % victim)
    os.kill(cluster.pid(victim), signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + args.reconnect_delay * (1 + args.jitter) + 60
    while not all(charger.booted and charger.boots[-1] > killed for charger in moving):
        if time.monotonic() > deadline:
            raise RuntimeError("%d of %d chargers of %s not booted elsewhere within %.0f s"
                               % (sum(not (c.booted and c.boots[-1] > killed) for c in moving), len(moving),
                                  victim, deadline - killed))
        await asyncio.sleep(0.01)
    booted = [min(boot for boot in charger.boots if boot > killed) - killed for charger in moving]
    lost = [min(loss for loss in charger.losses if loss >= killed) - killed for charger in moving]
    beyond = [boot - charger.own_delay for boot, charger in zip(booted, moving)]
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"victim": victim, "moved": len(moving), "all_booted": max(booted), "lost": max(lost),
            "smallest_delay": min(c.own_delay for c in moving), "largest_delay": max(c.own_delay for c in moving),
            "beyond": max(beyond), "beyond_median": statistics.median(beyond)}


# --- ingest table ---------------------------------------------------------------------------


def ingest_table(args):
    labels = {"cluster": "nginx + 3 nodes (cluster)", "node": "1 node direct (cluster mode)",
              "single": "plain single server (SQLite)"}
    rows = []
    for target in args.targets.split():
        runs = []
        for path in sorted(glob.glob(os.path.join(args.out, "ingest-%s-*.json" % target))):
            with open(path) as file:
                runs.append(json.load(file))
        if not runs:
            continue
        rates = [run["confirmed_messages_per_second"] for run in runs]
        latency = {key: statistics.median(run["latency_ms"][key] for run in runs) for key in ("p50", "p90", "p99", "max")}
        problems = sum(run.get("callerrors", 0) + run.get("disconnects", 0) + run.get("connect_failures", 0)
                       for run in runs)
        rows.append([labels.get(target, target), str(len(runs)), "**%s**" % format(round(statistics.median(rates)), ","),
                     ", ".join(format(round(rate), ",") for rate in rates),
                     "%.2f / %.2f / %.2f / %.2f" % (latency["p50"], latency["p90"], latency["p99"], latency["max"]),
                     "%d of %d" % (min(run["connected_chargers"] for run in runs), runs[0]["chargers"]),
                     str(problems)])
    print()
    print("Ingest, window 1, 10 sampled values per MeterValues (each target alternately, one fresh start per run)")
    print()
    print(table(["target", "runs", "confirmed MeterValues/s (median)", "each run", "latency ms p50 / p90 / p99 / max "
                 "(medians)", "chargers connected", "callerrors + disconnects + connect failures"], rows))
    print()


# --- connections ----------------------------------------------------------------------------


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def established(port):
    """Established TCP connections whose local port is `port` (the server side of them)."""
    output = subprocess.run(["ss", "-tnH", "state", "established", "( sport = :%d )" % port],
                            capture_output=True, text=True, check=True).stdout
    return sum(1 for line in output.splitlines() if line.strip())


def nginx_workers(directory):
    with open(os.path.join(directory, "nginx", "nginx.pid")) as file:
        master = int(file.read().strip())
    output = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return master, [int(pid) for pid in output.split()]


def connections(args):
    cluster = Cluster(args.dir)
    node_ids = sorted(cluster.ports)
    master, workers = nginx_workers(args.dir)
    before = {node_id: rss_kib(cluster.pid(node_id)) for node_id in node_ids}
    nginx_before = sum(rss_kib(pid) or 0 for pid in [master] + workers)
    processes, per = [], args.per_process
    count = (args.chargers + per - 1) // per
    # Source addresses: 127.0.0.2 up, split between the processes (a few thousand ports each).
    addresses_each = max(1, 38 // count)
    for index in range(count):
        chargers = min(per, args.chargers - index * per)
        first = 2 + index * addresses_each
        command = [args.loadgen, "--url", args.balancer.rstrip("/").replace("http://", "ws://", 1) + "/ocpp",
                   "--chargers", str(chargers), "--interval", args.interval, "--sampled-values", "10",
                   "--ramp-up", args.ramp_up, "--duration", args.duration, "--id-prefix", "LG%d" % index,
                   "--source-addresses", "127.0.0.%d-127.0.0.%d" % (first, first + addresses_each - 1),
                   "--json", os.path.join(args.out, "connections-%d.json" % index)]
        log = open(os.path.join(args.out, "connections-%d.txt" % index), "w")
        say("$ " + " ".join(shlex.quote(part) for part in command))
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        # Sampled in the middle of the measurement, when every charger should be connected.
        time.sleep(seconds(args.ramp_up) + seconds(args.duration) / 2)
        sample = {}
        for node_id in node_ids:
            pid = cluster.pid(node_id)
            sample[node_id] = (established(cluster.ports[node_id]), rss_kib(pid))
        balancer_port = int(urllib.parse.urlparse(args.balancer).port)
        at_balancer = established(balancer_port)
        master, workers = nginx_workers(args.dir)
        nginx_after = sum(rss_kib(pid) or 0 for pid in [master] + workers)
        per_worker = []
        for pid in workers:
            try:
                per_worker.append(len(os.listdir("/proc/%d/fd" % pid)))
            except OSError:
                pass
        for process in processes:
            process.wait()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
    summaries = []
    for index in range(count):
        path = os.path.join(args.out, "connections-%d.json" % index)
        if os.path.exists(path):
            with open(path) as file:
                summaries.append(json.load(file))
    rows = []
    total_connected = 0
    for node_id in node_ids:
        connected, rss = sample[node_id]
        total_connected += connected
        grown = (rss - before[node_id]) * 1024 if rss and before[node_id] else None
        rows.append([node_id, format(connected, ","), "%.1f" % (before[node_id] / 1024), "%.1f" % (rss / 1024),
                     format(round(grown / connected), ",") if grown is not None and connected else "-"])
    rows.append(["nginx (%d workers)" % len(workers), "%s (clients)" % format(at_balancer, ","),
                 "%.1f" % (nginx_before / 1024), "%.1f" % (nginx_after / 1024),
                 format(round((nginx_after - nginx_before) * 1024 / at_balancer), ",") if at_balancer else "-"])
    rows.append(["**all nodes**", "**%s**" % format(total_connected, ","), "", "", ""])
    print()
    print("Connections through nginx: %s chargers asked for (%d load generator processes), one MeterValues per "
          "charger every %s; sampled %.0f s after the ramp-up of %s" % (format(args.chargers, ","), count, args.interval,
                                                                   seconds(args.duration) / 2, args.ramp_up))
    print()
    print(table(["process", "established connections", "RSS before MiB", "RSS connected MiB",
                 "bytes per connection"], rows))
    print()
    say("open descriptors per nginx worker: %s" % ", ".join(format(n, ",") for n in sorted(per_worker)))
    connected = sum(summary.get("connected_chargers", 0) for summary in summaries)
    say("load generators: %s of %s chargers connected; %.0f confirmed MeterValues/s; connect failures %d, "
        "disconnects %d, callerrors %d; latency p50 %s ms, p99 %s ms (each process)"
        % (format(connected, ","), format(args.chargers, ","),
           sum(summary.get("confirmed_messages_per_second", 0) for summary in summaries),
           sum(summary.get("connect_failures", 0) for summary in summaries),
           sum(summary.get("disconnects", 0) for summary in summaries),
           sum(summary.get("callerrors", 0) for summary in summaries),
           ", ".join("%.1f" % summary["latency_ms"]["p50"] for summary in summaries if summary.get("latency_ms")),
           ", ".join("%.1f" % summary["latency_ms"]["p99"] for summary in summaries if summary.get("latency_ms"))))


def seconds(text):
    text = text.strip()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("latency")
    one.add_argument("--dir", required=True)
    one.add_argument("--requests", type=int, default=500, help="per round and series")
    one.add_argument("--rounds", type=int, default=5)
    one.add_argument("--warmup", type=int, default=50, help="requests through each node before the rounds")
    one = commands.add_parser("failover")
    one.add_argument("--dir", required=True)
    one.add_argument("--balancer", required=True)
    one.add_argument("--chargers", type=int, default=300)
    one.add_argument("--reconnect-delay", type=float, default=5.0)
    one.add_argument("--jitter", type=float, default=0.5, help="the own delay is delay x (1 + jitter x [0, 1))")
    one.add_argument("--connect-rate", type=float, default=200, help="new chargers a second at the start")
    one.add_argument("--runs", type=int, default=3)
    one = commands.add_parser("ingest-table")
    one.add_argument("--out", required=True)
    one.add_argument("--targets", default="cluster node single")
    one = commands.add_parser("connections")
    one.add_argument("--dir", required=True)
    one.add_argument("--balancer", required=True)
    one.add_argument("--loadgen", required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--chargers", type=int, default=50000)
    one.add_argument("--per-process", type=int, default=17000)
    one.add_argument("--interval", default="60s")
    one.add_argument("--ramp-up", default="120s")
    one.add_argument("--duration", default="60s")
    args = parser.parse_args()
    try:
        {"latency": latency, "failover": failover, "ingest-table": ingest_table,
         "connections": connections}[args.command](args)
    except RuntimeError as error:
        print("FAILED: %s" % error, file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
