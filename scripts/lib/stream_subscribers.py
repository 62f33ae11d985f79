"""Helpers of scripts/benchmark-streams.sh (Python standard library only). The subscribers
themselves are ocpp-stream-subscribers (Benchmarks/Sources/StreamSubscribers), whose RESULT
JSON `table` reads.

Subcommands:
  register BASE COUNT PREFIX IDS
      creates the chargers PREFIX-0 ... PREFIX-(COUNT-1) with POST /db/chargers/ (an existing
      one is looked up by charge_point_id instead) and writes {charge_point_id: database id}
      as JSON to IDS.
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
import statistics
import sys
import urllib.parse

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
    print("A: no subscribers; B: one live stream per charger, all read and parsed by ocpp-stream-subscribers on one")
    print("thread, on the same cores. msgs/s: confirmed MeterValues/s (ocpp-loadgen); events/s: sample events received per")
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
    elif command == "count" and len(rest) == 2:
        asyncio.run(count_stored(*rest))
    elif command == "table" and len(rest) == 2:
        sys.exit(table(*rest))
    else:
        raise SystemExit(usage)


if __name__ == "__main__":
    main(sys.argv[1:])
