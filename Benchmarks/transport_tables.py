"""The tables of docs/BENCHMARKS.md's "Over ZeroMQ" section (zmq-tcp, zmq-ipc, zmq-curve,
zmq-fastpath, relay):
what table.py writes between `<!-- transport:begin -->` and `<!-- transport:end -->`.

Every ratio is to a baseline measured in alternation with the figure in the same run: libzmq's
C API sending the same frames, ArrayTransport without CURVE or without the fast path, or the
producer sending directly (and, for the fast path, memcpy of the same size).
"""

import re

from results import FASTPATH_ROWS, FASTPATH_SIZES, RELAY_ROWS, TRANSPORT_LINKS, TRANSPORT_SCENARIOS, TRANSPORT_SIZES, size_label
from table import count, gbps, header, machine_line, ratio

BEGIN, END = "<!-- transport:begin -->", "<!-- transport:end -->"


def size_columns():
    return [size_label(size) for size in TRANSPORT_SIZES]


def cells(results, scenario, field, formatter):
    return " | ".join(formatter(results.value(scenario, size, field)) for size in TRANSPORT_SIZES)


ROUNDS = re.compile(r"median of (\d+) per-round ratios ([0-9.]+) \(([0-9.]+)–([0-9.]+)\)")


def rounds_note(results, scenario, size):
    """`0.97 (0.88–1.04)` from a row's note `median of 5 per-round ratios 0.97 (0.88–1.04)`, or None."""
    row = results.find(scenario, size)
    match = ROUNDS.search((row or {}).get("note") or "")
    return f"{match[2]} ({match[3]}–{match[4]})" if match else None


def render_transport(results, raw_data):
    line = machine_line(results)
    if results.machine.get("libzmq"):
        line += f" libzmq {results.machine['libzmq']}."
    out = [line, "", f"Raw data: [{raw_data}]({raw_data}).", ""]

    out += ["#### ArrayTransport ÷ libzmq's C API", "",
            "Each cell: ArrayTransport's `ZeroMQSender` → `ZeroMQReceiver` divided by libzmq's C API moving the same "
            "three frames (topic, an arrf/1 header, the payload sent without copying) with the same high-water marks, "
            "two processes, measured in alternation (the best of each). 1.0 is parity; the target at 8 MiB over "
            "tcp is ≥ 0.9.", ""]
    out += header("link", *size_columns())
    for ours, _, name in TRANSPORT_LINKS:
        if any(results.value(ours, size, "gbps") for size in TRANSPORT_SIZES):
            out.append(f"| {name} | {cells(results, ours, 'ratio', ratio)} |")
    out.append("")

    if any(rounds_note(results, ours, size) for ours, _, _ in TRANSPORT_LINKS for size in TRANSPORT_SIZES):
        out += ["The same, as the median of the per-round ratios (lowest–highest), which a slow spell of the "
                "machine during one round moves less:", ""]
        out += header("link", *size_columns())
        for ours, _, name in TRANSPORT_LINKS:
            notes = [rounds_note(results, ours, size) for size in TRANSPORT_SIZES]
            if any(notes):
                out.append(f"| {name} | " + " | ".join(note or "–" for note in notes) + " |")
        out.append("")

    out += ["#### Absolute throughput over ZeroMQ, GB/s", ""]
    out += header("system, link", *size_columns())
    for ours, theirs, name in TRANSPORT_LINKS:
        for scenario, who in ((theirs, "libzmq C API"), (ours, "**ArrayTransport**")):
            if any(results.value(scenario, size, "gbps") for size in TRANSPORT_SIZES):
                out.append(f"| {who}, {name} | {cells(results, scenario, 'gbps', gbps)} |")
    out.append("")

    curve = results.find("zmq-curve")
    if curve and curve.get("gbps") is not None:
        out += ["#### CURVE's cost (8 MiB, push/pull, tcp loopback)", ""]
        out += header("ArrayTransport", "GB/s", "arrays/s", "÷ without CURVE")
        plain = curve.get("baseline_value")
        out.append(f"| without CURVE (measured in alternation) | {gbps(plain)} | "
                   f"{count(plain * 1e9 / curve['size_bytes']) if plain else '–'} | 1 |")
        median = rounds_note(results, "zmq-curve", curve["size_bytes"])
        out.append(f"| with CURVE | {gbps(curve['gbps'])} | {count(curve.get('records_per_s'))} | "
                   f"{ratio(results.value('zmq-curve', curve['size_bytes'], 'ratio'))}" + (f"; median of the rounds {median}" if median else "") + " |")
        out.append("")

    out += render_fastpath(results)

    relay = [(results.find(scenario), name) for scenario, name in RELAY_ROWS]
    if all(row and row.get("gbps") is not None for row, _ in relay):
        out += ["#### aq-relay (8 MiB frames, push/pull, tcp loopback, every box a process)", "",
                "From `aq-relay bench --json`, which alternates the three paths round by round; the best round of each. "
                "Both producers copy each frame once from a pool made in advance; the receiver checks every frame's "
                "size and order and every 8th frame's checksum, and times the frames after the first 8.", ""]
        out += header("path", "GB/s", "frames/s", "÷ direct", "median of the per-round ratios")
        for (row, name), (scenario, _) in zip(relay, RELAY_ROWS):
            base = ratio(row.get("ratio")) if row.get("baseline") else "1"
            median = rounds_note(results, scenario, row["size_bytes"]) or ("–" if row.get("baseline") else "1")
            out.append(f"| {name} | {gbps(row['gbps'])} | {count(row.get('records_per_s'))} | {base} | {median} |")
        out.append("")

    notes = [row for row in results.rows
             if row["scenario"] in TRANSPORT_SCENARIOS and row.get("note") and not ROUNDS.fullmatch(row["note"])]
    if notes:
        out += ["#### Skipped or adjusted", ""]
        out += [f"- `{row['scenario']}`: {row['note']}" for row in notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_fastpath(results):
    """The same-host fast path's table: GB/s of the three links, then the fast path's ratios."""
    sizes = [size for size in FASTPATH_SIZES if results.value("zmq-fastpath", size, "gbps")]
    if not sizes:
        return []
    columns = [size_label(size) for size in sizes]
    out = ["#### Same-host fast path (pub/sub, a tcp subscriber on the publisher's host)", "",
           "The publisher binds `tcp://127.0.0.1`, the subscriber connects by tcp, both with `FastPath.automatic`; "
           "measured only once the subscriber is on shared memory, and every measured record came through it. "
           "In alternation with the same pub/sub over tcp (ArrayTransport with the fast path disabled, and libzmq's "
           "C API), the publisher binding in all three. Publishers never wait: the figure is what arrives.", ""]
    out += header("", *columns)
    for scenario, who in (("zmq-fastpath", "**fast path** (shared memory), GB/s"),
                          ("zmq-tcp-pubsub-bind", "ArrayTransport over tcp (fast path disabled), GB/s"),
                          ("libzmq-tcp-pubsub-bind", "libzmq C API over tcp, GB/s")):
        out.append(f"| {who} | " + " | ".join(gbps(results.value(scenario, size, "gbps")) for size in sizes) + " |")
    for scenario, what in FASTPATH_ROWS:
        cells = []
        for size in sizes:
            cell = ratio(results.value(scenario, size, "ratio"))
            median = rounds_note(results, scenario, size)
            cells.append(cell + (f"; median {median}" if median else ""))
        out.append(f"| fast path {what} | " + " | ".join(cells) + " |")
    out.append("")
    return out
