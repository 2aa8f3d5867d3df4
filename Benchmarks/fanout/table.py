#!/usr/bin/env python3
"""Markdown table of run.sh's JSON lines: per size and subscriber count, the slowest subscriber's
GB/s (median over rounds) for each build (this-borrow, this-copy, baseline), and the ratio of each
of this build's rows to the baseline per round (paired by round: they ran back to back), as
median (min–max). Lines of older runs with "build": "this" count as this-copy; lines of several
runs in one file are told apart by their "run" (default 1)."""
import json
import statistics
import sys
from collections import defaultdict

BUILDS = ["this-borrow", "this-copy", "baseline"]


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
    figures = defaultdict(dict)  # (size, subscribers) -> {(build, round): row}
    loads = [row["load"] for row in rows if "load" in row]
    for row in rows:
        build = "this-copy" if row.get("build") == "this" else row.get("build")
        figures[(row["size_bytes"], row["subscribers"])][(build, (row.get("run", 1), row["round"]))] = row
    if loads:
        print(f"Load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}, median {statistics.median(loads):.1f}.\n")
    print("| size | subscribers | borrowing (this): GB/s (msgs/s) | copying (this): GB/s (msgs/s) | baseline (f235fcb, copying): GB/s (msgs/s) "
          "| borrowing ÷ baseline, median (min–max) | copying ÷ baseline, median (min–max) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (size, subscribers), cells in sorted(figures.items()):
        def median(build, key):
            values = [row.get(key, 0) for (b, _), row in cells.items() if b == build and key in row]
            return statistics.median(values) if values else float("nan")

        def ratio(build):
            ratios = []
            for (b, round_), row in cells.items():
                other = cells.get(("baseline", round_))
                if b == build and other and other.get("gbps_slowest"):
                    ratios.append(row.get("gbps_slowest", 0) / other["gbps_slowest"])
            return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "n/a"

        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        cells_text = " | ".join(f"{median(b, 'gbps_slowest'):.2f} ({median(b, 'messages_per_s_slowest'):,.0f})" for b in BUILDS)
        print(f"| {label} | {subscribers} | {cells_text} | {ratio('this-borrow')} | {ratio('this-copy')} |")


if __name__ == "__main__":
    main()
