"""The cluster end to end, driven from outside: chargers on the independent PyPI `ocpp`
package connect through the balancer of a running cluster (scripts/lib/cluster.sh:
PostgreSQL, nodes, nginx) and the driver checks, failing with a message on the first
mismatch:

1. every charger boots through the balancer, and `GET /charge_points` on every node lists
   all of them with the same `node_id` each; every node holds at least one;
2. a command sent to every node (and to the balancer) for every charger reaches that charger,
   held by that node or forwarded to the one that holds it; one for a charger connected
   nowhere is 404 on every node;
3. an ingest at window 1 (each charger one MeterValues CALL outstanding, each acknowledged
   value recorded); one node is killed with SIGKILL mid-ingest; its chargers reconnect
   through the balancer after their reconnect delay, boot on the other nodes and go on
   sending; commands reach them there; the time from the kill until all of them are booted
   elsewhere is printed;
4. once the killed node's lease has lapsed, no node lists a charger on it any longer (a
   charger connected to it directly, which does not reconnect, shows that its presence goes
   with its lease, not with its chargers' moves);
5. the killed node starts again on its data; it is alive in the cluster again, lists every
   charger, and reaches them with commands;
6. every acknowledged value reads back exactly once, and nothing that was not sent
   from every node, which must all answer the same pages and cursors for the cluster's
   whole history (and, while the killed node is away, the others flag it in
   `incomplete_nodes`).

Usage: cluster_e2e.py --dir CLUSTER_DIR --balancer URL [--chargers N] ... (--help).
"""

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import websockets
import websockets.exceptions
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, ConfigurationStatus, RegistrationStatus

from cluster_env import read_settings

PROBE_KEY = "ClusterE2EProbe"
MEASURAND = "Energy.Active.Import.Register"
# A connection that could not open or ended: the charger connects again. A call the server
# does not answer in time (a TimeoutError, an OSError too) is not one of these: it fails the test.
CONNECTION_ERRORS = (OSError, websockets.exceptions.WebSocketException)


class Failure(Exception):
    """A mismatch: the test fails with this message."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def stamp(milliseconds):
    moment = datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def websocket_url(base):
    """The OCPP WebSocket's base URL at an HTTP base URL."""
    return base.replace("http://", "ws://", 1) + "/ocpp"


def say(message):
    print("    " + message, flush=True)


async def until(condition, seconds, what, interval=0.1):
    """Waits until `condition()` (maybe a coroutine function) is true; fails naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise Failure("%s: not within %.0f s" % (what, seconds))
        await asyncio.sleep(interval)


class Cluster:
    """The running cluster as its run directory describes it, and its REST API."""

    def __init__(self, directory, balancer, node_script):
        self.directory = directory
        self.balancer = balancer.rstrip("/")
        self.node_script = node_script
        settings = read_settings(directory)
        self.database_url = settings["cluster_database_url"]
        self.lease_seconds = float(settings["cluster_lease_seconds"])
        count = int(settings["cluster_node_count"])
        self.nodes = {"node-%d" % index: "http://127.0.0.1:%s" % settings["cluster_node_port_%d" % index]
                      for index in range(1, count + 1)}
        with open(os.path.join(directory, "admin-token")) as file:
            self.token = file.read().strip()
        with open(os.path.join(directory, "postgres", "bin")) as file:
            self.psql = os.path.join(file.read().strip(), "psql")
        self.restarted = {}
        # Threads of its own for blocking calls: the `ocpp` package validates messages in the
        # loop's default executor, which requests waiting for a charger's answer must not fill.
        self.requests = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="rest")

    def request(self, base, method, path, body=None, timeout=40):
        """(status, decoded JSON or text) of one REST request with the admin token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        except OSError as error:  # refused, reset, timed out (URLError is one too)
            raise Failure("%s %s%s: no answer: %s" % (method, base, path, error)) from None
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    async def call(self, base, method, path, body=None):
        return await self.in_thread(self.request, base, method, path, body)

    async def in_thread(self, function, *args):
        """`function(*args)` on a thread of the driver's own pool."""
        return await asyncio.get_running_loop().run_in_executor(self.requests, function, *args)

    async def get(self, base, path):
        status, body = await self.call(base, "GET", path)
        check(status == 200, "GET %s%s answered %s: %s" % (base, path, status, body))
        return body

    async def charge_points(self, base):
        """charge_point_id -> node_id of `GET /charge_points` at `base`."""
        body = await self.get(base, "/charge_points?limit=1000")
        check(body["total"] == len(body["items"]), "GET %s/charge_points is paged: %s" % (base, body))
        for item in body["items"]:
            check(item.get("node_id"), "GET %s/charge_points: an item without node_id: %s" % (base, item))
        return {item["charge_point_id"]: item["node_id"] for item in body["items"]}

    def sql(self, query):
        """Rows of one query on the cluster's PostgreSQL, as lists of text."""
        result = subprocess.run([self.psql, "-X", "-A", "-t", "-F", "|", "-d", self.database_url, "-c", query],
                                capture_output=True, text=True, timeout=30)
        check(result.returncode == 0, "psql failed: %s" % result.stderr.strip())
        return [line.split("|") for line in result.stdout.splitlines() if line]

    def pid(self, node_id):
        with open(os.path.join(self.directory, node_id, "pid")) as file:
            return int(file.read().strip())

    def kill(self, node_id):
        os.kill(self.pid(node_id), signal.SIGKILL)

    def start(self, node_id):
        """Starts a node again on its data directory (scripts/lib/cluster-node.sh)."""
        index = node_id.split("-")[1]
        self.restarted[node_id] = subprocess.Popen([self.node_script, self.directory, index])

    def stop_restarted(self):
        for process in self.restarted.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    async def ready(self, node_id):
        def answer():
            try:
                with urllib.request.urlopen(self.nodes[node_id] + "/ready", timeout=2) as response:
                    return response.status == 200
            except (OSError, urllib.error.URLError):
                return False
        return await self.in_thread(answer)

    def lease_lapsed(self, node_id):
        rows = self.sql("SELECT lease_expires_at <= now() FROM cluster_nodes WHERE node_id = '%s'" % node_id)
        return not rows or rows[0][0] == "t"


class ProbePoint(ChargePoint):
    """Answers ChangeConfiguration Accepted and records the value each brought."""

    def __init__(self, charge_point_id, connection, charger):
        super().__init__(charge_point_id, connection, response_timeout=20)
        self.charger = charger

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        self.charger.configured.append((key, value))
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)


class Charger:
    """A charger that stays connected through `url`, reconnects after a delay when its
    connection is lost, boots on every connection and, while `ingest` is set, sends
    MeterValues one at a time (window 1), each with its own timestamp and value."""

    def __init__(self, charge_point_id, url, reconnect_delay, seed, base_milliseconds, reconnects=True):
        self.charge_point_id = charge_point_id
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.reconnect_delay = reconnect_delay
        self.reconnects = reconnects
        self.random = random.Random(seed)
        self.base_milliseconds = base_milliseconds
        self.sequence = 0
        self.sent = {}              # timestamp text -> value text, everything sent
        self.acknowledged = {}      # the same, what the server acknowledged
        self.configured = []        # (key, value) of each ChangeConfiguration received
        self.boots = []             # time.monotonic() of each accepted BootNotification
        self.losses = []            # time.monotonic() of each lost connection
        self.retries = []           # time.monotonic() of each reconnect attempt after a loss
        self.booted = False
        self.sending = False

    async def run(self, ingest, stop):
        while not stop.is_set():
            try:
                async with websockets.connect(self.url, subprotocols=["ocpp1.6"], open_timeout=10,
                                              ping_interval=None, close_timeout=2) as socket:
                    point = ProbePoint(self.charge_point_id, socket, self)
                    reader = asyncio.create_task(point.start())
                    session = asyncio.create_task(self.session(point, ingest, stop))
                    done, _ = await asyncio.wait({reader, session}, return_when=asyncio.FIRST_COMPLETED)
                    for task in (reader, session):
                        task.cancel()
                    await asyncio.gather(reader, session, return_exceptions=True)
                    if reader in done and not reader.cancelled():
                        error = reader.exception()
                        if error is not None and not isinstance(error, CONNECTION_ERRORS):
                            raise Failure("%s: %r" % (self.charge_point_id, error))
                    if session in done and not session.cancelled():
                        error = session.exception()
                        if error is None:
                            self.booted = False
                            return
                        if isinstance(error, asyncio.TimeoutError) or not isinstance(error, CONNECTION_ERRORS):
                            raise Failure("%s: %r" % (self.charge_point_id, error))
            except CONNECTION_ERRORS:
                pass
            self.booted = False
            self.sending = False
            self.losses.append(time.monotonic())
            if not self.reconnects or stop.is_set():
                return
            # A charger's own reconnect delay, with a little jitter as real fleets have.
            await asyncio.sleep(self.reconnect_delay * (1 + 0.5 * self.random.random()))
            self.retries.append(time.monotonic())

    async def session(self, point, ingest, stop):
        answer = await point.call(call.BootNotification(charge_point_vendor="ClusterE2E", charge_point_model="Probe"),
                                  suppress=False)
        check(answer.status == RegistrationStatus.accepted,
              "%s: BootNotification answered %s" % (self.charge_point_id, answer.status))
        self.boots.append(time.monotonic())
        self.booted = True
        while not stop.is_set():
            if not ingest.is_set():
                await asyncio.sleep(0.05)
                continue
            self.sequence += 1
            milliseconds = self.base_milliseconds + self.sequence
            timestamp, value = stamp(milliseconds), str(self.sequence)
            self.sent[timestamp] = value
            self.sending = True
            await point.call(call.MeterValues(connector_id=1, meter_value=[{
                "timestamp": timestamp,
                "sampled_value": [{"value": value, "measurand": MEASURAND, "unit": "Wh",
                                   "context": "Sample.Periodic"}]}]), suppress=False)
            self.acknowledged[timestamp] = value
            self.sending = False


async def history_pages(cluster, base, charger_id, window, limit):
    """Every page of a charger's meter history at `base` over `window`, `limit` rows a page:
    [(items, next_cursor)]."""
    pages, cursor = [], None
    while True:
        query = {"from": stamp(window[0]), "to": stamp(window[1]), "measurand": MEASURAND, "limit": str(limit)}
        if cursor:
            query["cursor"] = cursor
        body = await cluster.get(base, "/db/chargers/%d/meter-values?%s" % (charger_id, urllib.parse.urlencode(query)))
        pages.append(body)
        cursor = body.get("next_cursor")
        if not cursor:
            return pages


async def charger_row_id(cluster, charger):
    """The database id of `charger`'s row (what the history routes take)."""
    body = await cluster.get(cluster.balancer, "/db/chargers/?charge_point_id=" + charger.charge_point_id)
    check(len(body["items"]) == 1, "the charger row of %s: %s" % (charger.charge_point_id, body))
    return body["items"][0]["id"]


def rows_of(pages):
    return [(item["timestamp"], item.get("raw", item["value"])) for page in pages for item in page["items"]]


async def read_back(cluster, charger_id, window):
    """The history as every node answers it for the whole cluster (history from any node):
    the same pages, cursors included, from each node, none flagged incomplete."""
    answers = {}
    for node_id, base in cluster.nodes.items():
        pages = await history_pages(cluster, base, charger_id, window, 1000)
        for page in pages:
            check(not page.get("incomplete_nodes"),
                  "%s flags nodes as missing from the history: %s" % (node_id, page.get("incomplete_nodes")))
        answers[node_id] = pages
    first_node, first = next(iter(answers.items()))
    for node_id, pages in answers.items():
        check(pages == first, "charger %d: the history from %s differs from %s's (%d pages against %d)"
              % (charger_id, node_id, first_node, len(pages), len(first)))
    rows = rows_of(first)
    return rows, {node_id: len(rows) for node_id in answers}




def settle(tasks):
    failed = [task for task in tasks if task.done() and not task.cancelled() and task.exception()]
    if failed:
        raise failed[0].exception()


async def run(args):
    cluster = Cluster(args.dir, args.balancer, args.node_script)
    node_ids = list(cluster.nodes)
    check(len(node_ids) >= 2, "the cluster needs at least two nodes")
    ocpp_url = websocket_url(cluster.balancer)
    base_milliseconds = int(time.time() * 1000) - 60_000
    window = (base_milliseconds - 1000, base_milliseconds + 3_600_000)
    chargers = [Charger("CP-E2E-%02d" % index, ocpp_url, args.reconnect_delay, args.seed * 1000 + index,
                        base_milliseconds) for index in range(1, args.chargers + 1)]
    ingest, stop = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(charger.run(ingest, stop)) for charger in chargers]
    started = time.monotonic()
    try:
        return await scenario(cluster, node_ids, chargers, tasks, ingest, stop, ocpp_url, window, started, args)
    finally:
        stop.set()
        ingest.clear()
        await asyncio.wait(tasks, timeout=10)
        cluster.stop_restarted()


async def scenario(cluster, node_ids, chargers, tasks, ingest, stop, ocpp_url, window, started, args):
    everyone = {charger.charge_point_id for charger in chargers}

    print("==> 1. %d chargers boot through the balancer %s" % (len(chargers), cluster.balancer), flush=True)
    await until(lambda: settle(tasks) or all(charger.booted for charger in chargers), 30, "every charger booted")
    placement = {}

    async def listed_everywhere():
        views = {node_id: await cluster.charge_points(base) for node_id, base in cluster.nodes.items()}
        views["balancer"] = await cluster.charge_points(cluster.balancer)
        if any(set(view) != everyone for view in views.values()):
            return False
        first = views[node_ids[0]]
        for name, view in views.items():
            check(view == first, "GET /charge_points on %s places chargers differently: %s against %s"
                  % (name, view, first))
        placement.update(first)
        return True
    await until(listed_everywhere, 15, "GET /charge_points on every node listing every charger")
    holders = collections.Counter(placement.values())
    say("placement: %s" % ", ".join("%s %d" % (node_id, holders[node_id]) for node_id in node_ids))
    for node_id in node_ids:
        check(holders[node_id] > 0, "the balancer gave %s no charger: %s" % (node_id, placement))

    print("==> 2. a command through every node (and the balancer) to every charger", flush=True)
    entrances = dict(cluster.nodes, balancer=cluster.balancer)
    requests = []
    for name, base in entrances.items():
        for charger in chargers:
            body = {"key": PROBE_KEY, "value": "via " + name}
            requests.append((name, charger, cluster.call(
                base, "POST", "/charge_points/%s/change_configuration" % charger.charge_point_id, body)))
    answers = await asyncio.gather(*(request for _, _, request in requests))
    for (name, charger, _), (status, body) in zip(requests, answers):
        check(status == 200 and body == {"status": "Accepted"},
              "a command to %s (on %s) through %s answered %s: %s"
              % (charger.charge_point_id, placement[charger.charge_point_id], name, status, body))
    for charger in chargers:
        received = sorted(value for key, value in charger.configured if key == PROBE_KEY)
        check(received == sorted("via " + name for name in entrances),
              "%s received %s, expected one command through each of %s"
              % (charger.charge_point_id, received, sorted(entrances)))
    for name, base in entrances.items():
        status, body = await cluster.call(base, "POST", "/charge_points/CP-E2E-NOWHERE/change_configuration",
                                          {"key": PROBE_KEY, "value": "nowhere"})
        check(status == 404, "a command to a charger connected nowhere through %s answered %s: %s"
              % (name, status, body))
    say("%d commands answered Accepted and received; a charger connected nowhere is 404 everywhere" % len(requests))

    victim = "node-2" if holders["node-2"] > 0 else max(holders, key=holders.get)
    survivors = [node_id for node_id in node_ids if node_id != victim]
    moving = [charger for charger in chargers if placement[charger.charge_point_id] == victim]
    # A charger connected to the victim directly, which does not come back: only the victim's
    # lease can take its presence away.
    parked = Charger("CP-E2E-PARKED", websocket_url(cluster.nodes[victim]), args.reconnect_delay, args.seed,
                     window[0], reconnects=False)
    tasks.append(asyncio.create_task(parked.run(asyncio.Event(), stop)))
    await until(lambda: settle(tasks) or parked.booted, 15, "the parked charger booted on " + victim)

    async def parked_listed():
        return (await cluster.charge_points(cluster.nodes[survivors[0]])).get(parked.charge_point_id) == victim
    await until(parked_listed, 15, "%s listed on %s by %s" % (parked.charge_point_id, victim, survivors[0]))

    print("==> 3. ingest at window 1; kill -9 %s (holding %d chargers) mid-ingest"
          % (victim, len(moving)), flush=True)
    ingest_started = time.monotonic()
    ingest.set()
    await asyncio.sleep(args.ingest_before_kill)
    settle(tasks)
    for charger in chargers:
        check(charger.acknowledged, "%s had no MeterValues acknowledged before the kill" % charger.charge_point_id)
    before_kill = {charger.charge_point_id: len(charger.acknowledged) for charger in moving}
    cluster.kill(victim)
    killed_at = time.monotonic()

    def moved(charger):
        return charger.booted and charger.boots[-1] > killed_at
    await until(lambda: settle(tasks) or all(moved(charger) for charger in moving),
                args.reconnect_delay * 1.5 + 30, "the killed node's chargers booted elsewhere")
    lost = [min(loss for loss in charger.losses if loss >= killed_at) - killed_at for charger in moving]
    booted = [min(boot for boot in charger.boots if boot > killed_at) - killed_at for charger in moving]
    # From the end of each charger's reconnect delay to its accepted BootNotification: what the
    # balancer and the surviving nodes add (a first attempt that failed counts in it).
    beyond_delay = [min(boot for boot in charger.boots if boot > killed_at)
                    - min(retry for retry in charger.retries if retry > killed_at) for charger in moving]
    failover = max(booted)
    say("the killed node's %d chargers saw their connection end within %.2f s and were all booted elsewhere "
        "%.2f s after the kill: reconnect delay %.1f s plus up to half of it as jitter, then at most %.3f s "
        "to connect and boot (goal: all within delay + 5 s)"
        % (len(moving), max(lost), failover, args.reconnect_delay, max(beyond_delay)))
    check(failover < args.reconnect_delay * 1.5 + 30, "failover took %.1f s" % failover)

    async def moved_in_presence():
        view = await cluster.charge_points(cluster.nodes[survivors[0]])
        return all(view.get(charger.charge_point_id) in survivors for charger in moving)
    await until(moved_in_presence, 15, "the moved chargers listed on the surviving nodes")
    for name in survivors:
        for charger in moving:
            status, body = await cluster.call(cluster.nodes[name], "POST", "/charge_points/%s/change_configuration"
                                              % charger.charge_point_id, {"key": PROBE_KEY, "value": "moved " + name})
            check(status == 200 and body == {"status": "Accepted"},
                  "after the move, a command to %s through %s answered %s: %s"
                  % (charger.charge_point_id, name, status, body))
            check((PROBE_KEY, "moved " + name) in charger.configured,
                  "after the move, %s did not receive the command sent through %s" % (charger.charge_point_id, name))
    await until(lambda: settle(tasks) or all(len(charger.acknowledged) >= before_kill[charger.charge_point_id]
                                             + args.values_after_move for charger in moving),
                30, "%d more values acknowledged from each moved charger" % args.values_after_move)

    print("==> 4. %s's lease (%.0f s) lapses" % (victim, cluster.lease_seconds), flush=True)
    await until(lambda: cluster.in_thread(cluster.lease_lapsed, victim), cluster.lease_seconds + 15,
                victim + "'s lease lapsed", 0.25)
    lapsed_after = time.monotonic() - killed_at
    for name in survivors:
        view = await cluster.charge_points(cluster.nodes[name])
        check(victim not in view.values(), "%s still lists chargers on %s after its lease lapsed: %s"
              % (name, victim, view))
        check(set(view) == everyone, "%s lists %s after the move, expected %s" % (name, sorted(view), sorted(everyone)))
    say("lapsed %.1f s after the kill; no node lists a charger on %s (the parked one included)"
        % (lapsed_after, victim))
    ingest.clear()
    await until(lambda: not any(charger.sending for charger in chargers), 30, "the last MeterValues answered")
    # The cluster's history while a node that holds part of it is away: flagged, not silent.
    charger_id = await charger_row_id(cluster, moving[0])
    for name in survivors:
        page = await cluster.get(cluster.nodes[name], "/db/chargers/%d/meter-values?%s" % (
            charger_id, urllib.parse.urlencode({"from": stamp(window[0]), "to": stamp(window[1])})))
        check(page.get("incomplete_nodes") == [victim], "with %s away, %s's history of %s flags %s"
              % (victim, name, moving[0].charge_point_id, page.get("incomplete_nodes")))
    say("with %s away, the history on %s flags it as incomplete" % (victim, ", ".join(survivors)))
    settle(tasks)
    ingest_seconds = time.monotonic() - ingest_started
    acknowledged = sum(len(charger.acknowledged) for charger in chargers)
    say("ingest: %d values acknowledged in %.1f s (%.0f a second, window 1, %d chargers)"
        % (acknowledged, ingest_seconds, acknowledged / ingest_seconds, len(chargers)))

    print("==> 5. %s starts again on its data" % victim, flush=True)
    restart = time.monotonic()
    cluster.start(victim)
    await until(lambda: cluster.ready(victim), 60, victim + " ready again")
    say("ready %.1f s after its start" % (time.monotonic() - restart))
    async def alive():
        return not await cluster.in_thread(cluster.lease_lapsed, victim)
    await until(alive, 15, victim + " alive in the cluster again")
    rows = cluster.sql("SELECT node_id FROM charger_presence WHERE charge_point_id = '%s'" % parked.charge_point_id)
    check(not rows, "%s's presence on %s outlived the node's restart: %s" % (parked.charge_point_id, victim, rows))
    view = await cluster.charge_points(cluster.nodes[victim])
    check(set(view) == everyone,
          "%s lists %s after its restart, expected %s" % (victim, sorted(view), sorted(everyone)))
    for charger in chargers:
        status, body = await cluster.call(cluster.nodes[victim], "POST", "/charge_points/%s/change_configuration"
                                          % charger.charge_point_id, {"key": PROBE_KEY, "value": "restarted"})
        check(status == 200 and body == {"status": "Accepted"},
              "after its restart, a command through %s to %s answered %s: %s"
              % (victim, charger.charge_point_id, status, body))

    print("==> 6. every acknowledged value reads back from every node", flush=True)
    by_node = collections.Counter()
    unacknowledged_stored = 0
    for charger in chargers:
        rows, counts = await read_back(cluster, await charger_row_id(cluster, charger), window)
        by_node.update(counts)
        seen = collections.Counter(timestamp for timestamp, _ in rows)
        repeated = [timestamp for timestamp, count in seen.items() if count > 1]
        check(not repeated, "%s: stored more than once: %s" % (charger.charge_point_id, repeated[:5]))
        stored = {timestamp: value for timestamp, value in rows}
        for timestamp, value in stored.items():
            check(timestamp in charger.sent and str(value) == charger.sent[timestamp],
                  "%s: a value never sent is stored: %s %s" % (charger.charge_point_id, timestamp, value))
        missing = [timestamp for timestamp in charger.acknowledged if timestamp not in stored]
        if missing:
            raise Failure("%s: %d acknowledged values are missing, the first %s (value %s)"
                          % (charger.charge_point_id, len(missing), missing[0], charger.acknowledged[missing[0]]))
        unacknowledged_stored += len(stored) - len(charger.acknowledged)
    say("%d acknowledged values all read back once (rows by node: %s); %d sent but unacknowledged were stored"
        % (acknowledged, ", ".join("%s %d" % (node_id, by_node[node_id]) for node_id in node_ids),
           unacknowledged_stored))
    return {"failover_seconds": failover, "acknowledged": acknowledged, "seconds": time.monotonic() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="the cluster's run directory (scripts/lib/cluster.sh)")
    parser.add_argument("--balancer", required=True, help="the balancer's URL, http://127.0.0.1:PORT")
    parser.add_argument("--node-script", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                "cluster-node.sh"))
    parser.add_argument("--chargers", type=int, default=9)
    parser.add_argument("--reconnect-delay", type=float, default=1.0, help="seconds, plus up to half as jitter")
    parser.add_argument("--ingest-before-kill", type=float, default=3.0, help="seconds")
    parser.add_argument("--values-after-move", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=180, help="seconds for the whole test")
    args = parser.parse_args()
    async def bounded():
        try:
            return await asyncio.wait_for(run(args), args.timeout)
        except asyncio.TimeoutError:
            raise Failure("the test did not finish within %.0f s" % args.timeout) from None
    try:
        result = asyncio.run(bounded())
    except Failure as failure:
        print("FAILED: %s" % failure, file=sys.stderr, flush=True)
        sys.exit(1)
    print("==> the cluster end to end passed (the driver's part %.1f s): %d values, failover %.2f s"
          % (result["seconds"], result["acknowledged"], result["failover_seconds"]), flush=True)


if __name__ == "__main__":
    main()
