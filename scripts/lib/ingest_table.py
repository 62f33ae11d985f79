"""The table of scripts/benchmark-ingest.sh: floor and ocpp-server side by side.

Reads OUT/SCENARIO-TARGET-ROUND.json (ocpp-loadgen --json) and prints medians over the rounds.
Usage: ingest_table.py OUT "SCENARIO ..."; exits 1 if a --verify check failed.
"""

import glob
import json
import os
import statistics
import sys

out, scenarios = sys.argv[1], sys.argv[2].split()
labels = {
    "w1-1000": "window 1, 1,000 chargers",
    "w1-5000": "window 1, 5,000 chargers",
    "w1-19000": "window 1, 19,000 chargers",
    "fleet": "fleet: 19,000 x 1 MeterValues/s",
    "w4-1000": "STRESS window 4, 1,000 chargers",
}


def runs(scenario, target):
    result = []
    for path in sorted(glob.glob(os.path.join(out, f"{scenario}-{target}-*.json"))):
        with open(path) as file:
            result.append(json.load(file))
    return result


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def number(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    return number(numerator / denominator, 2) if numerator is not None and denominator else "-"


failed = []
rows = []
header = ["scenario", "rounds", "floor msgs/s", "server msgs/s", "ratio",
          "CPU us/msg floor", "server", "loadgen (floor run)", "loadgen (server run)", "chargers (floor/server)"]
latency_rows = []
for scenario in scenarios:
    floor, server = runs(scenario, "floor"), runs(scenario, "server")
    if not floor and not server:
        continue
    for run in server:
        verification = run.get("verify")
        if verification is not None and not verification.get("passed"):
            failed.append(f"{scenario}: --verify failed: {verification.get('failures', [])[:3]}")
    rate = {name: median([r.get("confirmed_messages_per_second") for r in group])
            for name, group in (("floor", floor), ("server", server))}
    rows.append([
        labels.get(scenario, scenario),
        f"{len(floor)}/{len(server)}",
        number(rate["floor"]),
        number(rate["server"]),
        ratio(rate["server"], rate["floor"]),
        number(median([r.get("server_cpu_us_per_message") for r in floor]), 2),
        number(median([r.get("server_cpu_us_per_message") for r in server]), 2),
        number(median([r.get("loadgen_cpu_us_per_message") for r in floor]), 2),
        number(median([r.get("loadgen_cpu_us_per_message") for r in server]), 2),
        f"{number(median([r.get('connected_chargers') for r in floor]))}/"
        f"{number(median([r.get('connected_chargers') for r in server]))}",
    ])
    if scenario != "fleet":
        continue
    actions = sorted({action for r in floor + server for action in r.get("latency_by_action_ms", {})},
                     key=lambda a: ["MeterValues", "StatusNotification", "Heartbeat"].index(a)
                     if a in ("MeterValues", "StatusNotification", "Heartbeat") else 9)
    for action in actions:
        row = [action]
        for key in ("p50", "p99", "p999", "max"):
            values = [median([r.get("latency_by_action_ms", {}).get(action, {}).get(key) for r in group])
                      for group in (floor, server)]
            row += [number(values[0], 2), number(values[1], 2), ratio(values[1], values[0])]
        late = median([r.get("late_meter_values") for r in server]) if action == "MeterValues" else None
        row.append(number(late))
        latency_rows.append(row)


def table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)


print()
print("Ingest, floor (wsfloor.c) and ocpp-server side by side; medians over rounds; 10 sampled values;")
print("ratio = server / floor; CPU us per confirmed message (load generator: its own, beside each target).")
print("The headline is window 1; window 4 is a stress mode no conforming charger produces.")
print(table(header, rows))
if latency_rows:
    print()
    print("Fleet latency, ms (ratio = server / floor; late = server run's MeterValues merged into the one before):")
    latency_header = ["action"]
    for key in ("p50", "p99", "p99.9", "max"):
        latency_header += [f"{key} floor", "server", "ratio"]
    latency_header.append("late")
    print(table(latency_header, latency_rows))
for line in failed:
    print(line)
sys.exit(1 if failed else 0)
