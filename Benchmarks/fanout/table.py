#!/usr/bin/env python3
"""Markdown table of run.sh's JSON lines: per size and subscriber count, the slowest subscriber's
GB/s (median over rounds) for this build and the baseline, and their ratio per round (paired by
round: the two ran back to back), as median (min–max)."""
import json
import statistics
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
    figures = defaultdict(dict)  # (size, subscribers) -> {(build, round): row}
    for row in rows:
        figures[(row["size_bytes"], row["subscribers"])][(row["build"], row["round"])] = row
    print("| size | subscribers | this: GB/s (msgs/s) | baseline: GB/s (msgs/s) | this ÷ baseline, median (min–max) |")
    print("| --- | --- | --- | --- | --- |")
    for (size, subscribers), cells in sorted(figures.items()):
        def median(build, key):
            values = [row.get(key, 0) for (b, _), row in cells.items() if b == build and key in row]
            return statistics.median(values) if values else float("nan")
        ratios = []
        for (build, round_), row in cells.items():
            other = cells.get(("baseline", round_))
            if build == "this" and other and other.get("gbps_slowest"):
                ratios.append(row.get("gbps_slowest", 0) / other["gbps_slowest"])
        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "n/a"
        print(f"| {label} | {subscribers} | {median('this', 'gbps_slowest'):.2f} ({median('this', 'messages_per_s_slowest'):,.0f}) "
              f"| {median('baseline', 'gbps_slowest'):.2f} ({median('baseline', 'messages_per_s_slowest'):,.0f}) | {spread} |")


if __name__ == "__main__":
    main()
