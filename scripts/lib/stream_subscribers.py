"""Live-stream subscribers for scripts/benchmark-streams.sh (Python standard library only).

Subcommands:
  register BASE COUNT PREFIX IDS
      creates the chargers PREFIX-0 ... PREFIX-(COUNT-1) with POST /db/chargers/ (an existing
      one is looked up by charge_point_id instead) and writes {charge_point_id: database id}
      as JSON to IDS.
  subscribe BASE IDS RESULT READY
      opens one GET /db/chargers/{id}/meter-values/stream per charger in IDS, all from this
      one asyncio process, and reads and parses every stream (HTTP/1.1, chunked or not; the
      Server-Sent Events split into events, counted by event type). Once every stream has sent
      its `ready` event it writes READY (the number of streams ready). On SIGTERM it keeps
      reading until no byte has arrived for 3 s (at most 60 s: rows stored late in the run
      may still be on their way), then writes RESULT:
      streams opened and ready, events by type, streams that got `dropped`, streams that
      ended otherwise, bytes, this process's CPU seconds, and a timeline of sample rows (in
      `samples` events) per
      quarter second (wall clock) for the caller to take a rate over its measurement window.
  count BASE IDS
      prints the number of samples stored for the chargers in IDS (a count aggregate of each
      charger's meter history), as JSON {"stored_samples": N, "chargers": M}.
  table OUT RAMP_SECONDS
      prints the benchmark's table from OUT: per round A (no subscribers) and B (subscribers)
      side by side from ocpp-loadgen's JSON (A-ROUND.json, B-ROUND.json), with B's subscriber
      results (subscribers-B-ROUND.json), stored counts (stored-B-ROUND.json) and the load
      generator's end time (end-B-ROUND.txt: its measurement is the seconds before; without
      it, from start-B-ROUND.txt plus RAMP_SECONDS),
      and the load generator's per-second progress lines (A-ROUND.err, B-ROUND.err: "late"
      is the median rate of the measurement's second half, after one-off costs of its start);
      then the medians. Exits 1 when a B run lost streams or its events disagree with the store.

BASE is the REST API's base URL, http://127.0.0.1:PORT (authentication off).
"""

import asyncio
import glob
import json
import os
import resource
import signal
import statistics
import sys
import time
import urllib.parse

SLICE = 0.25  # seconds per timeline slot


def split_base(base):
    url = urllib.parse.urlsplit(base)
    if url.scheme != "http" or not url.hostname:
        raise SystemExit(f"the base URL must be http://HOST:PORT, got {base}")
    return url.hostname, url.port or 80


async def read_response(reader):
    """One HTTP/1.1 response on a keep-alive connection: (status, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, bytes(body)
    return status, await reader.readexactly(int(headers.get("content-length", "0")))


class Client:
    """A keep-alive HTTP/1.1 connection for JSON requests."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method, path, body=None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/json\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        status, answer = await read_response(self.reader)
        return status, json.loads(answer) if answer else None

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def in_parallel(items, work, connections, host, port):
    """Runs work(client, item) over items on `connections` keep-alive connections."""
    queue = list(reversed(items))
    results = {}

    async def worker():
        client = Client(host, port)
        try:
            while queue:
                item = queue.pop()
                results[item] = await work(client, item)
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results


async def register(base, count, prefix, ids_path):
    host, port = split_base(base)

    async def create(client, charge_point_id):
        status, answer = await client.request("POST", "/db/chargers/", {"charge_point_id": charge_point_id})
        if status in (200, 201):
            return answer["id"]
        if status == 409:
            quoted = urllib.parse.quote(charge_point_id, safe="")
            status, answer = await client.request("GET", f"/db/chargers/?charge_point_id={quoted}")
            if status == 200 and answer["items"]:
                return answer["items"][0]["id"]
        raise SystemExit(f"creating charger {charge_point_id}: HTTP {status} {answer}")

    names = [f"{prefix}-{index}" for index in range(count)]
    ids = await in_parallel(names, create, 8, host, port)
    with open(ids_path, "w") as file:
        json.dump({name: ids[name] for name in names}, file)


async def count_stored(base, ids_path):
    host, port = split_base(base)
    with open(ids_path) as file:
        ids = json.load(file)

    async def stored(client, charger_id):
        status, answer = await client.request("GET", f"/db/chargers/{charger_id}/meter-values?bucket=1d&agg=count")
        if status != 200:
            raise SystemExit(f"counting the samples of charger {charger_id}: HTTP {status} {answer}")
        return sum(item["count"] for item in answer["items"])

    counts = await in_parallel(list(ids.values()), stored, 8, host, port)
    print(json.dumps({"stored_samples": sum(counts.values()), "chargers": len(counts)}))


class Stream(asyncio.Protocol):
    """One live stream: de-chunks the HTTP body and counts its events by type."""

    def __init__(self, totals, charger_id):
        self.totals = totals
        self.charger_id = charger_id
        self.head = bytearray()
        self.in_body = False
        self.chunked = False
        self.raw = bytearray()  # body bytes not yet de-chunked
        self.chunk_left = 0  # bytes of the current chunk still to come (-1: its CRLF)
        self.events = bytearray()  # de-chunked text not yet split into events
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.ended = None  # why the stream ended, once it has

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.totals["bytes"] += len(data)
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.head[:end].decode("latin-1").lower()
            data = bytes(self.head[end + 4:])
            self.head = bytearray()
            status = head.split(" ", 2)[1]
            if status != "200":
                self.fail(f"HTTP {status}: {data[:200]!r}")
                return
            self.in_body = True
            self.chunked = "transfer-encoding: chunked" in head
        if self.chunked:
            self.raw += data
            self.dechunk()
        else:
            self.events += data
        self.parse()

    def dechunk(self):
        raw, position = self.raw, 0
        while position < len(raw):
            if self.chunk_left > 0:
                take = min(self.chunk_left, len(raw) - position)
                self.events += raw[position:position + take]
                position += take
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.chunk_left = -1
            elif self.chunk_left == -1:
                if len(raw) - position < 2:
                    break
                position += 2
                self.chunk_left = 0
            else:
                end = raw.find(b"\r\n", position)
                if end < 0:
                    break
                size = int(raw[position:end].split(b";")[0], 16)
                position = end + 2
                if size == 0:
                    self.finish("the server ended the response")
                    break
                self.chunk_left = size
        del raw[:position]

    def parse(self):
        end = self.events.rfind(b"\n\n")
        if end < 0:
            return
        complete = bytes(self.events[:end + 2])
        del self.events[:end + 2]
        totals = self.totals
        # Every event of this stream begins with its id line, so each event line follows a newline.
        # Sample rows come in `samples` events, grouped by series: every row of every group counts.
        samples = 0
        marker = b"\nevent: samples\ndata: "
        start = complete.find(marker)
        while start >= 0:
            begin = start + len(marker)
            stop = complete.index(b"\n", begin)
            samples += sum(len(group["rows"]) for group in json.loads(complete[begin:stop])["series"])
            start = complete.find(marker, stop)
        if samples:
            totals["sample"] += samples
            slot = int(time.time() / SLICE)
            timeline = totals["timeline"]
            timeline[slot] = timeline.get(slot, 0) + samples
        totals["status"] += complete.count(b"\nevent: status\n")
        totals["keep_alive"] += complete.count(b": keep-alive\n")
        if not self.ready.done() and (complete.startswith(b"event: ready\n") or b"\nevent: ready\n" in complete):
            totals["ready"] += 1
            self.ready.set_result(True)
        if b"\nevent: dropped\n" in complete:
            totals["dropped"] += 1
            self.finish("dropped")
        elif b"\nevent: end\n" in complete:
            self.finish("end")

    def finish(self, why):
        if self.ended is None:
            self.ended = why
        self.transport.close()

    def fail(self, why):
        self.totals["errors"].append(f"charger {self.charger_id}: {why}")
        self.finish(why)

    def connection_lost(self, exc):
        if self.ended is None:
            self.ended = f"connection lost ({exc})" if exc else "connection closed"
        if not self.ready.done():
            self.ready.set_result(False)
        if not self.closed.done():
            self.closed.set_result(True)


async def subscribe(base, ids_path, result_path, ready_path):
    host, port = split_base(base)
    with open(ids_path) as file:
        ids = list(json.load(file).values())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    totals = {"bytes": 0, "sample": 0, "status": 0, "keep_alive": 0, "ready": 0, "dropped": 0,
              "errors": [], "timeline": {}}
    streams = []
    opening = asyncio.Semaphore(64)

    async def open_stream(charger_id):
        async with opening:
            _, stream = await loop.create_connection(lambda: Stream(totals, charger_id), host, port)
            request = (f"GET /db/chargers/{charger_id}/meter-values/stream HTTP/1.1\r\n"
                       f"Host: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n")
            stream.transport.write(request.encode())
            streams.append(stream)
            await asyncio.wait_for(asyncio.shield(stream.ready), 60)

    opened_at = time.time()
    await asyncio.gather(*(open_stream(charger_id) for charger_id in ids))
    ready_at = time.time()
    with open(ready_path, "w") as file:
        file.write(f"{totals['ready']}\n")
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    await stop.wait()
    stopped_at = time.time()
    # Drain: what the server sent before the load stopped is still arriving.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = totals["bytes"]
        await asyncio.sleep(3)
        if totals["bytes"] == seen:
            break
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    ended = {}
    for stream in streams:
        if stream.ended is not None:
            ended[stream.ended] = ended.get(stream.ended, 0) + 1
        stream.transport.close()
    result = {
        "streams": len(ids),
        "opened": len(streams),
        "ready": totals["ready"],
        "open_seconds": round(ready_at - opened_at, 3),
        "sample_events": totals["sample"],
        "status_events": totals["status"],
        "keep_alives": totals["keep_alive"],
        "dropped_streams": totals["dropped"],
        "ended_streams": ended,
        "bytes": totals["bytes"],
        "subscriber_cpu_seconds": round(cpu_end.ru_utime + cpu_end.ru_stime
                                        - cpu_start.ru_utime - cpu_start.ru_stime, 3),
        "ready_at": ready_at,
        "stopped_at": stopped_at,
        "slice_seconds": SLICE,
        "timeline": {str(slot): count for slot, count in sorted(totals["timeline"].items())},
        "errors": totals["errors"][:20],
    }
    with open(result_path, "w") as file:
        json.dump(result, file)


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file) if path.endswith(".json") else float(file.read())


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def number(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def late_rate(err_path, seconds):
    """The median of the per-second rates the load generator printed over the last half of
    its measurement (its last, partial second left out)."""
    if not os.path.exists(err_path) or not seconds:
        return None
    rates = []
    with open(err_path) as file:
        for line in file:
            words = line.split()
            if "messages/s" in words:
                rates.append(float(words[words.index("messages/s") + 1]))
    half = max(1, int(seconds / 2))
    return median(rates[-half - 1:-1]) if len(rates) > half else None


def table(out, ramp):
    ramp = float(ramp)
    rounds = sorted({int(os.path.basename(path)[2:-5]) for path in glob.glob(os.path.join(out, "[AB]-*.json"))})
    header = ["round", "A msgs/s", "B msgs/s", "B/A", "late A", "late B", "B/A", "server us/msg A", "B", "server cores A", "B",
              "loadgen us/msg A", "B", "subscriber cores", "events/s", "values/s B", "streams ready",
              "dropped", "ended early", "events", "stored"]
    rows, problems = [], []
    per_round = []
    for round_number in rounds:
        a = load(os.path.join(out, f"A-{round_number}.json"))
        b = load(os.path.join(out, f"B-{round_number}.json"))
        subscribers = load(os.path.join(out, f"subscribers-B-{round_number}.json"))
        stored = load(os.path.join(out, f"stored-B-{round_number}.json"))
        started = load(os.path.join(out, f"start-B-{round_number}.txt"))
        ended_at = load(os.path.join(out, f"end-B-{round_number}.txt"))
        record = {"a": a, "b": b}
        for variant, run in (("A", a), ("B", b)):
            record[f"late_{variant}"] = late_rate(os.path.join(out, f"{variant}-{round_number}.err"),
                                                  run["seconds"] if run else None)
        late_ratio = record["late_B"] / record["late_A"] if record["late_A"] and record["late_B"] else None
        record["late_ratio"] = late_ratio
        events_rate = cores = None
        if subscribers and b and (started or ended_at):
            if ended_at:
                window_start, window_end = ended_at - b["seconds"], ended_at
            else:
                window_start = started + ramp
                window_end = window_start + b["seconds"]
            slice_ = subscribers["slice_seconds"]
            received = sum(count for slot, count in subscribers["timeline"].items()
                           if window_start <= int(slot) * slice_ < window_end)
            events_rate = received / b["seconds"]
            lasted = subscribers["stopped_at"] - subscribers["ready_at"]
            cores = subscribers["subscriber_cpu_seconds"] / lasted if lasted > 0 else None
        record.update(events_rate=events_rate, subscriber_cores=cores)
        per_round.append(record)
        ended = sum(subscribers["ended_streams"].values()) if subscribers else None
        if subscribers:
            if subscribers["ready"] != subscribers["streams"]:
                problems.append(f"round {round_number}: {subscribers['ready']} of {subscribers['streams']} streams ready")
            if ended:
                problems.append(f"round {round_number}: streams ended before the run did: {subscribers['ended_streams']}")
            if subscribers["errors"]:
                problems.append(f"round {round_number}: {subscribers['errors'][:3]}")
            if stored and stored["stored_samples"] != subscribers["sample_events"]:
                problems.append(f"round {round_number}: {subscribers['sample_events']:,} sample events received, "
                                f"{stored['stored_samples']:,} samples stored")

        def get(run, key, digits=0):
            return number(run.get(key) if run else None, digits)

        ratio = (b["confirmed_messages_per_second"] / a["confirmed_messages_per_second"]
                 if a and b and a["confirmed_messages_per_second"] else None)
        record["ratio"] = ratio
        rows.append([
            str(round_number), get(a, "confirmed_messages_per_second"), get(b, "confirmed_messages_per_second"),
            number(ratio, 2), number(record["late_A"]), number(record["late_B"]), number(late_ratio, 2), get(a, "server_cpu_us_per_message", 2), get(b, "server_cpu_us_per_message", 2),
            get(a, "server_cpu_cores", 2), get(b, "server_cpu_cores", 2),
            get(a, "loadgen_cpu_us_per_message", 2), get(b, "loadgen_cpu_us_per_message", 2),
            number(cores, 2), number(events_rate), get(b, "sampled_values_per_second"),
            f"{subscribers['ready']}/{subscribers['streams']}" if subscribers else "-",
            number(subscribers["dropped_streams"]) if subscribers else "-", number(ended),
            number(subscribers["sample_events"]) if subscribers else "-",
            number(stored["stored_samples"]) if stored else "-",
        ])

    def med(variant, key):
        return median([r[variant].get(key) if r[variant] else None for r in per_round])

    a_rate, b_rate = med("a", "confirmed_messages_per_second"), med("b", "confirmed_messages_per_second")
    ratio_of_medians = b_rate / a_rate if a_rate and b_rate else None
    median_ratio = median([r["ratio"] for r in per_round])
    late_a, late_b = median([r["late_A"] for r in per_round]), median([r["late_B"] for r in per_round])
    late_ratio = late_b / late_a if late_a and late_b else None
    rows.append([
        "median", number(a_rate), number(b_rate), number(ratio_of_medians, 2),
        number(late_a), number(late_b), number(late_ratio, 2),
        number(med("a", "server_cpu_us_per_message"), 2), number(med("b", "server_cpu_us_per_message"), 2),
        number(med("a", "server_cpu_cores"), 2), number(med("b", "server_cpu_cores"), 2),
        number(med("a", "loadgen_cpu_us_per_message"), 2), number(med("b", "loadgen_cpu_us_per_message"), 2),
        number(median([r["subscriber_cores"] for r in per_round]), 2),
        number(median([r["events_rate"] for r in per_round])), number(med("b", "sampled_values_per_second")),
        "", "", "", "", "",
    ])
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    print()
    print("A: no subscribers; B: one live stream per charger, all read and parsed by one Python process on the")
    print("same cores. msgs/s: confirmed MeterValues/s (ocpp-loadgen); events/s: sample events received per")
    print("second during B's measurement; values/s B: sampled values the load generator had confirmed per second.")
    print("late: median of the per-second rates over the second half of the measurement.")
    if ratio_of_medians is not None:
        met = ratio_of_medians >= 0.9
        print(f"B/A: {number(ratio_of_medians, 3)} by the medians (median of the rounds' ratios "
              f"{number(median_ratio, 3)}); goal B >= 0.90 x A: {'met' if met else 'NOT met'}")
        print(f"B/A late in the measurement: {number(late_ratio, 3)}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def main(arguments):
    usage = __doc__.split("\n\n")[1]
    if not arguments:
        raise SystemExit(usage)
    command, rest = arguments[0], arguments[1:]
    if command == "register" and len(rest) == 4:
        asyncio.run(register(rest[0], int(rest[1]), rest[2], rest[3]))
    elif command == "subscribe" and len(rest) == 4:
        asyncio.run(subscribe(*rest))
    elif command == "count" and len(rest) == 2:
        asyncio.run(count_stored(*rest))
    elif command == "table" and len(rest) == 2:
        sys.exit(table(*rest))
    else:
        raise SystemExit(usage)


if __name__ == "__main__":
    main(sys.argv[1:])
