#!/usr/bin/env python3
"""Markdown table of run.sh's JSON lines: per size and subscriber count, the slowest subscriber's
GB/s (median over rounds) for each build (this-borrow, before-borrow if run, this-copy, baseline),
and the ratio of each of this build's rows to the baseline (and of this-borrow to before-borrow)
per round (paired by round: they ran back to back), as median (min–max). Lines with "cpu_ms" add
a column: CPU time of the whole run (publisher and subscribers) per message delivered to a
subscriber, µs. Lines of older runs with "build": "this" count as this-copy; lines of several runs
in one file are told apart by their "run" (default 1)."""
import json
import statistics
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
    figures = defaultdict(dict)  # (size, subscribers) -> {(build, round): row}
    loads = [row["load"] for row in rows if "load" in row]
    for row in rows:
        build = "this-copy" if row.get("build") == "this" else row.get("build")
        figures[(row["size_bytes"], row["subscribers"])][(build, (row.get("run", 1), row["round"]))] = row
    present = {build for cells in figures.values() for build, _ in cells}
    builds = [b for b in ["this-borrow", "before-borrow", "this-copy", "baseline"] if b in present]
    pairs = [(b, "baseline") for b in ("this-borrow", "this-copy") if b in present]
    if "before-borrow" in present:
        pairs.append(("this-borrow", "before-borrow"))
    with_cpu = any("cpu_ms" in row for row in rows)
    if loads:
        print(f"Load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}, median {statistics.median(loads):.1f}.\n")
    names = {"this-borrow": "borrowing (this)", "before-borrow": "borrowing (before)", "this-copy": "copying (this)", "baseline": "baseline (copying)"}
    header = [f"{names[b]}: GB/s (msgs/s)" for b in builds] + [f"{a} ÷ {b}, median (min–max)" for a, b in pairs]
    if with_cpu:
        header.append("CPU µs per delivered message: " + " · ".join(builds))
    print("| size | subscribers | " + " | ".join(header) + " |")
    print("|" + " --- |" * (len(header) + 2))
    for (size, subscribers), cells in sorted(figures.items()):
        def median(build, key):
            values = [row.get(key, 0) for (b, _), row in cells.items() if b == build and key in row]
            return statistics.median(values) if values else float("nan")

        def ratio(build, other_build):
            ratios = []
            for (b, round_), row in cells.items():
                other = cells.get((other_build, round_))
                if b == build and other and other.get("gbps_slowest"):
                    ratios.append(row.get("gbps_slowest", 0) / other["gbps_slowest"])
            return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "n/a"

        def cpu(build):
            values = [row["cpu_ms"] * 1000 / sum(row["received"]) for (b, _), row in cells.items()
                      if b == build and "cpu_ms" in row and sum(row.get("received", [])) > 0]
            return f"{statistics.median(values):.1f}" if values else "n/a"

        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        columns = [f"{median(b, 'gbps_slowest'):.2f} ({median(b, 'messages_per_s_slowest'):,.0f})" for b in builds]
        columns += [ratio(a, b) for a, b in pairs]
        if with_cpu:
            columns.append(" · ".join(cpu(b) for b in builds))
        print(f"| {label} | {subscribers} | " + " | ".join(columns) + " |")


if __name__ == "__main__":
    main()
