#!/usr/bin/env python3
"""Writes the "ArrayQueues from Python" tables of docs/BENCHMARKS.md from the peers' results of
one run (run_peers.sh's JSON lines, or a results.jsonl that contains them).

    python3 Benchmarks/peers/python_table.py peers.jsonl [docs/BENCHMARKS.md]

Replaces the text between `<!-- python:begin -->` and `<!-- python:end -->`; prints it if the
file is not given. Every ratio divides two figures of the same run; a run of several rounds
(run_peers.sh with ROUNDS=N) gives each figure's best round. Standard library only.
"""

import json
import pathlib
import sys

SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]
OURS = [("peer-arrayqueues-swift", "arrayqueues_swift, `put` / `get` (copies)"),
        ("peer-arrayqueues-swift-zerocopy", "arrayqueues_swift, `loan` / `borrow` (zero-copy)")]
PEERS = [("peer-iceoryx2", "iceoryx2 (Python)"), ("peer-arrayqueues", "arrayqueues 1.4.1"),
         ("peer-mpqueue", "multiprocessing.Queue"), ("peer-pyzmq-tcp", "pyzmq, tcp loopback"),
         ("peer-faster-fifo", "faster-fifo")]
#: Peers whose consumer gets a view of shared memory (the others deliver an array it owns).
LENDING = {"peer-iceoryx2", "peer-arrayqueues"}
#: Our rows in the ratio table: scenario, API, and what kind of consumer it pairs with.
COMPARED = [("peer-arrayqueues-swift-zerocopy", "`loan` / `borrow`", "lends"),
            ("peer-arrayqueues-swift", "`put` / `get`", "owns")]
BEGIN, END = "<!-- python:begin -->", "<!-- python:end -->"


def label(size):
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def best(rows, scenario, size, field="gbps"):
    """The best figure of `scenario` and its shallow variant at `size` (more is better)."""
    found = []
    for row in rows:
        if row["scenario"] in (scenario, scenario + "-shallow") and row.get("size_bytes") == size:
            if row.get("records") and row.get("seconds") and field == "gbps":
                found.append((row["records"] - 1) * size / row["seconds"] / 1e9)  # unrounded
            elif row.get(field) is not None:
                found.append(row[field])
    return max(found) if found else None


def fastest(rows, scenario):
    """The row of `scenario` with the lowest p50 (of several rounds, ROUNDS=N), or None."""
    found = [row for row in rows if row["scenario"] == scenario and row.get("p50_us") is not None]
    return min(found, key=lambda row: row["p50_us"]) if found else None


def number(value):
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def times(value):
    if value is None:
        return "–"
    return f"×{value:.0f}" if value >= 10 else f"×{value:.2f}"


def tables(rows):
    present = [(scenario, name) for scenario, name in OURS + PEERS if any(r["scenario"].startswith(scenario) for r in rows)]
    out = [BEGIN, "", "Throughput in GB/s, two processes, each system with the ring depth (deep or shallow) that served it "
           "better at that size:", "", "| system | " + " | ".join(label(size) for size in SIZES) + " |",
           "| --- |" + " ---: |" * len(SIZES)]
    for scenario, name in present:
        out.append(f"| {name} | " + " | ".join(number(best(rows, scenario, size)) for size in SIZES) + " |")
    out += ["", "arrayqueues_swift ÷ each peer, same run, per API. *Like for like* pairs consumers that get the same "
            "thing: a view of the record in shared memory, read in full (iceoryx2, the original `arrayqueues`), or an "
            "array the consumer owns (`multiprocessing.Queue`, pyzmq, faster-fifo). The copying API against a peer that "
            "lends views does one copy more than that peer:", "",
            "| peer | arrayqueues_swift API | " + " | ".join(label(size) for size in SIZES) + " |",
            "| --- | --- |" + " ---: |" * len(SIZES)]
    for scenario, name in PEERS:
        if not any(r["scenario"].startswith(scenario) for r in rows):
            continue
        lends = scenario in LENDING
        for ours, api, like in COMPARED:
            if not any(r["scenario"].startswith(ours) for r in rows) or (not lends and like == "lends"):
                continue
            cells = []
            for size in SIZES:
                mine, theirs = best(rows, ours, size), best(rows, scenario, size)
                cells.append(times(mine / theirs) if mine and theirs else "–")
            same = (like == "lends") == lends
            out.append(f"| {name} | {api}{' (like for like)' if same else ''} | " + " | ".join(cells) + " |")
    out += ["", "1 KiB arrays per second (deep ring) and the blocking round trip of an 8-byte array (p99 of the round with the best p50):", "",
            "| system | 1 KiB arrays/s | round trip p50 µs | p99 µs |", "| --- | ---: | ---: | ---: |"]
    for scenario, name in present:
        per_second = best(rows, scenario + "-rate", 1024, "records_per_s")
        ping = fastest(rows, scenario + "-pingpong")
        out.append(f"| {name} | {number(per_second)} | {number(ping.get('p50_us') if ping else None)} | "
                   f"{number(ping.get('p99_us') if ping else None)} |")
    notes = [row for row in rows if row.get("note") and any(row["scenario"].startswith(s) for s, _ in OURS + PEERS)]
    if notes:
        out += ["", "Not measured: " + "; ".join(f"`{row['scenario']}` {label(row['size_bytes']) if row.get('size_bytes') else ''}: {row['note']}"
                                                 for row in notes)]
    out += ["", END]
    return "\n".join(out)


def main():
    rows = load(sys.argv[1])
    text = tables(rows)
    if len(sys.argv) < 3:
        print(text)
        return
    target = pathlib.Path(sys.argv[2])
    document = target.read_text()
    if BEGIN not in document or END not in document:
        sys.exit(f"{target} has no {BEGIN} ... {END} section")
    head, rest = document.split(BEGIN, 1)
    target.write_text(head + text + rest.split(END, 1)[1])


if __name__ == "__main__":
    main()
