#!/usr/bin/env python3
"""Writes the result tables of docs/BENCHMARKS.md from docs/benchmarks/results.jsonl.

    python3 Benchmarks/table.py [results.jsonl] [BENCHMARKS.md]

Replaces the text between the lines `<!-- results:begin -->` and `<!-- results:end -->` (the
shared-memory scenarios and the peers) and between `<!-- transport:begin -->` and
`<!-- transport:end -->` (the ZeroMQ and relay scenarios, see transport_tables.py); a results
file without rows of one kind leaves its section alone. The rest of the file is written by hand. Ratios come first, then absolute numbers; every ratio
is to a baseline measured in the same run. Standard library only.
"""

import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from results import PEERS, SIZES, TRANSPORT_SCENARIOS, Results, size_label  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

# Streaming systems: (name, scenario of the deep ring; the shallow one adds "-shallow").
STREAMS = [("ArrayQueues zero-copy", "queue-zerocopy"), ("ArrayQueues copy", "queue-copy")] + [(name, prefix) for prefix, name in PEERS]


def small(value):
    """Two significant digits of a value below 1, never in scientific notation."""
    if value <= 0:
        return "0"
    decimals = max(2, 1 - math.floor(math.log10(value)))
    return f"{value:.{decimals}f}"


def ratio(value):
    if value is None:
        return "–"
    if value >= 1:
        return f"{value:.2f}"
    return "<0.001" if value < 0.001 else small(value)


def times(value):
    if value is None:
        return "–"
    return f"×{value:.0f}" if value >= 10 else f"×{value:.1f}"


def gbps(value):
    if value is None:
        return "–"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return small(value)


def count(value):
    if value is None:
        return "–"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def micros(value):
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def header(first, *columns):
    cells = [first, *columns]
    return ["| " + " | ".join(cells) + " |", "| " + " | ".join(["---"] + ["---:"] * len(columns)) + " |"]


def size_columns():
    return [size_label(size) for size in SIZES]


def stream_rows(results, field, formatter, *, baseline_rows=()):
    lines = []
    for name, cell in baseline_rows:
        lines.append(f"| {name} | " + " | ".join(formatter(cell(size)) for size in SIZES) + " |")
    for name, scenario in STREAMS:
        for ring, suffix in (("shallow", "-shallow"), ("deep", "")):
            if not any(results.value(scenario + suffix, size, "gbps") for size in SIZES):
                continue
            cells = [formatter(results.value(scenario + suffix, size, field)) for size in SIZES]
            bold = name.startswith("ArrayQueues")
            label = f"**{name}**, {ring}" if bold else f"{name}, {ring}"
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def machine_line(results):
    machine = results.machine
    if not machine:
        return "_No machine description in the results file._"
    parts = [machine.get("cpu"), f"{machine.get('cores')} cores" if machine.get("cores") else None,
             f"L3 {machine['l3']}" if machine.get("l3") else None, f"Linux {machine['kernel']}" if machine.get("kernel") else None]
    where = ", ".join(filter(None, parts))
    kind = "quick run (`QUICK=1`)" if machine.get("quick") else "full run"
    text = f"Measured {machine.get('date', '?')} on {where}; {kind}"
    if machine.get("load_before") is not None:
        text += f"; 1-minute load average {machine['load_before']} when measuring started"
    text += "."
    if machine.get("swift"):
        text += f" {machine['swift']}."
    versions = machine.get("versions") or {}
    if versions:
        text += " Peers: " + ", ".join(f"{name} {version}" for name, version in versions.items()) + "."
    return text


def render(results):
    out = [machine_line(results), "", "Raw data: [benchmarks/results.jsonl](benchmarks/results.jsonl).", ""]

    out += ["#### Throughput ÷ the raw shared-memory pipeline with the same ring", "",
            "`ratio_raw`: each figure divided by the raw two-process pipeline with the same number of slots "
            "and record size, measured in alternation with it. 1.0 is the most any shared-memory channel "
            "of that geometry can move on this machine at that moment.", ""]
    out += header("system, ring", *size_columns())
    out += stream_rows(results, "ratio_raw", ratio)
    out.append("")

    out += ["#### Throughput ÷ memcpy of the same size", "",
            "`ratio`: each figure divided by single-threaded `memcpy` between two hot buffers of the array's size.", ""]
    out += header("system, ring", *size_columns())
    def raw_ratio(suffix):
        def cell(size):
            raw, memcpy = results.raw_pipeline(suffix, size), results.value("memcpy", size, "gbps")
            return raw / memcpy if raw and memcpy else None
        return cell

    out += stream_rows(results, "ratio", ratio, baseline_rows=[("raw shm pipeline, shallow ¹", raw_ratio("-shallow")),
                                                                ("raw shm pipeline, deep ¹", raw_ratio(""))])
    out.append("")

    out += ["#### Absolute throughput, GB/s", ""]
    out += header("system, ring", *size_columns())
    out += stream_rows(results, "gbps", gbps, baseline_rows=[
        ("memcpy, one thread", lambda size: results.value("memcpy", size, "gbps")),
        ("raw shm pipeline, shallow ¹", lambda size: results.raw_pipeline("-shallow", size)),
        ("raw shm pipeline, deep ¹", lambda size: results.raw_pipeline("", size)),
    ])
    out += ["", "¹ The best of all measurements of the raw pipeline with that ring in this run: its own scenario "
            "(`shm-pipeline`, `shm-pipeline-shallow`) and the ones taken in alternation with `queue-copy` and "
            "`queue-zerocopy`. It is an upper bound; a single measurement can land in a slow moment of the "
            "virtual machine.", ""]
    rings = []
    for size in SIZES:
        deep, shallow = results.value("queue-zerocopy", size, "ring_records"), results.value("queue-zerocopy-shallow", size, "ring_records")
        if deep or shallow:
            rings.append(f"{size_label(size)}: {shallow or '–'} / {deep or '–'}")
    if rings:
        out += ["Arrays the ring holds (shallow / deep): " + ", ".join(rings) + ". "
                "The peers' channels buffer about as many (see `Benchmarks/peers/peer_bench.py`).", ""]

    out += ["#### ArrayQueues ÷ each peer", "",
            "ArrayQueues' throughput divided by the peer's, in the same run, with the same kind of API: "
            "zero-copy (`put(dtype:shape:fill:)` / `get { }`) against the peers that hand out a view of shared memory, "
            "copying (`put(array)` / `get()`) against those that deliver an array the receiver owns. "
            "Each side with the ring depth that served it better at that size.", ""]
    out += header("peer", *size_columns())
    borrowed = {"peer-iceoryx2", "peer-arrayqueues", "peer-arrayqueues-swift-zerocopy"}
    for prefix, name in PEERS:
        ours = ["queue-zerocopy", "queue-zerocopy-shallow"] if prefix in borrowed else ["queue-copy", "queue-copy-shallow"]
        cells = []
        for size in SIZES:
            mine, _ = results.best(ours, size)
            theirs, _ = results.best([prefix, prefix + "-shallow"], size)
            cells.append(times(mine / theirs) if mine and theirs else "–")
        if any(cell != "–" for cell in cells):
            kind = "zero-copy" if prefix in borrowed else "copy"
            out.append(f"| {name} (vs ArrayQueues {kind}) | " + " | ".join(cells) + " |")
    out.append("")

    out += ["#### Small arrays: 1 KiB arrays per second", ""]
    out += header("system", "arrays/s", "÷ raw spinning ring (`spsc-ring-rate`)")
    base = results.value("spsc-ring-rate", 1024, "records_per_s")
    out.append(f"| raw spinning ring, 64 MiB (baseline) | {count(base)} | 1 |")
    rate_rows = [("**ArrayQueues** `put(array)` / `get {}`", "queue-1k-rate")] + [(name, prefix + "-rate") for prefix, name in PEERS]
    for name, scenario in rate_rows:
        row = results.find(scenario, 1024)
        if row is None or row.get("records_per_s") is None:
            continue
        rate_ratio = row["records_per_s"] / base if base else None
        out.append(f"| {name} | {count(row['records_per_s'])} | {ratio(rate_ratio)} |")
    out.append("")

    out += ["#### Blocking round trip of an 8-byte array", ""]
    out += header("system", "p50 µs", "p99 µs", "p99.9 µs", "p50 ÷ baseline")
    latency_rows = [
        ("futex ping-pong, both parked (baseline)", "futex-pingpong"),
        ("**ArrayQueues**, `spin: .zero` (parks at once)", "queue-pingpong-parked"),
        ("spinning ping-pong (baseline of the next row)", "spin-pingpong"),
        ("**ArrayQueues**, default 30 µs spin before parking", "queue-pingpong-spinning"),
    ] + [(name, prefix + "-pingpong") for prefix, name in PEERS]
    for name, scenario in latency_rows:
        row = results.find(scenario)
        if row is None or row.get("p50_us") is None:
            continue
        base_ratio = ratio(row.get("ratio")) if row.get("baseline") else "1"
        out.append(f"| {name} | {micros(row['p50_us'])} | {micros(row.get('p99_us'))} | {micros(row.get('p999_us'))} | {base_ratio} |")
    out += ["", "Peers' p50 and ArrayQueues' parked p50 are divided by the futex ping-pong p50; the spinning "
            "ArrayQueues row by the spinning ping-pong p50.", ""]

    mpmc = [row for row in results.rows if row["scenario"].startswith("queue-mpmc") and row.get("gbps") is not None]
    if mpmc:
        out += ["#### Several producer and consumer processes (ArrayQueues, copying paths)", ""]
        out += header("scenario", "array", "GB/s", "÷ memcpy")
        for row in mpmc:
            out.append(f"| `{row['scenario']}` | {size_label(row['size_bytes'])} | {gbps(row['gbps'])} | {ratio(row.get('ratio'))} |")
        out.append("")

    notes = [(scenario, size, note) for scenario, size, note in results.notes("") if note and scenario not in TRANSPORT_SCENARIOS]
    if notes:
        out += ["#### Skipped, failed or adjusted", ""]
        for scenario, size, note in notes:
            out.append(f"- `{scenario}`" + (f" {size_label(size)}" if size else "") + f": {note}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def replace_between(text, begin, end, body, target):
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        sys.exit(f"table.py: {target} has no {begin} … {end} markers")
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    return f"{before}{begin}\n{body}{end}{after}"


def main():
    from transport_tables import BEGIN as TRANSPORT_BEGIN, END as TRANSPORT_END, render_transport

    source = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/benchmarks/results.jsonl"
    target = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/BENCHMARKS.md"
    results = Results(source)
    text = target.read_text() if target.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n\n{TRANSPORT_BEGIN}\n{TRANSPORT_END}\n"
    # A file without one kind of rows (say, a run of only the zmq-* scenarios) leaves the other
    # section as it was.
    written = []
    if results.has_queues():
        text = replace_between(text, BEGIN, END, render(results), target)
        written.append("shared memory")
    if results.has_transport():
        raw_data = f"benchmarks/{source.name}" if source.parent.name == "benchmarks" else str(source)
        text = replace_between(text, TRANSPORT_BEGIN, TRANSPORT_END, render_transport(results, raw_data), target)
        written.append("ZeroMQ")
    if not written:
        sys.exit(f"table.py: {source} has no rows to tabulate")
    target.write_text(text)
    print(f"table.py: wrote the {' and '.join(written)} tables into {target}")


if __name__ == "__main__":
    main()
