#!/usr/bin/env python3
"""Draws docs/benchmarks/throughput.png from docs/benchmarks/results.jsonl: GB/s against array
size, both axes logarithmic, one line per system.

    python Benchmarks/plot.py [results.jsonl] [throughput.png] [transport.jsonl]

The ZeroMQ lines come from transport.jsonl instead (docs/benchmarks/transport.jsonl by default,
if it exists: a later `TRANSPORT_ONLY=1` run), and the footnote says so.

Needs matplotlib (Benchmarks/run-all.sh installs it into Benchmarks/.venv-plot). Peers are drawn
with the channel depth that served them better at each size (deep or shallow, see
peers/peer_bench.py); ArrayQueues and the raw pipeline with both.
"""

import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from results import PEERS, SIZES, Results, size_label  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def series(results, scenario):
    points = [(size, results.value(scenario, size, "gbps")) for size in SIZES]
    return [(size, gbps) for size, gbps in points if gbps]


def raw(results, suffix):
    points = [(size, results.raw_pipeline(suffix, size)) for size in SIZES]
    return [(size, gbps) for size, gbps in points if gbps]


def best_of(results, scenarios):
    points = [(size, results.best(scenarios, size)[0]) for size in SIZES]
    return [(size, gbps) for size, gbps in points if gbps]


def main():
    source = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/benchmarks/results.jsonl"
    target = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/benchmarks/throughput.png"
    results = Results(source)
    transport = pathlib.Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / "docs/benchmarks/transport.jsonl"
    overlaid = transport.exists() and transport.resolve() != source.resolve() and results.overlay_transport(Results(transport))

    lines = [
        ("memcpy, one thread (hot buffers)", series(results, "memcpy"), dict(color="black", linestyle=":", marker="")),
        ("raw shm pipeline, shallow ring", raw(results, "-shallow"), dict(color="0.45", linestyle="--", marker="")),
        ("raw shm pipeline, deep ring", raw(results, ""), dict(color="0.45", linestyle="-.", marker="")),
        ("ArrayQueues zero-copy, shallow", series(results, "queue-zerocopy-shallow"), dict(color="tab:blue", linewidth=2.6, marker="o")),
        ("ArrayQueues zero-copy, deep", series(results, "queue-zerocopy"), dict(color="tab:blue", linewidth=1.6, linestyle="--", marker="o")),
        ("ArrayQueues copy, shallow", series(results, "queue-copy-shallow"), dict(color="tab:cyan", linewidth=2.2, marker="s")),
        ("ArrayQueues copy, deep", series(results, "queue-copy"), dict(color="tab:cyan", linewidth=1.4, linestyle="--", marker="s")),
    ]
    lines += [
        ("ArrayTransport (ZeroMQ), tcp loopback", series(results, "zmq-tcp"), dict(color="tab:olive", linewidth=2.0, marker="h")),
        ("libzmq C API, tcp loopback", series(results, "libzmq-tcp"), dict(color="tab:olive", linewidth=1.2, linestyle=":", marker="h")),
        ("ArrayTransport pub/sub, same-host fast path", series(results, "zmq-fastpath"), dict(color="tab:pink", linewidth=2.0, marker="*")),
    ]
    colors = ["navy", "teal", "tab:green", "tab:orange", "tab:red", "tab:purple", "tab:brown"]
    markers = ["o", "s", "^", "v", "D", "P", "X"]
    for (prefix, name), color, marker in zip(PEERS, colors, markers):
        lines.append((name, best_of(results, [prefix, prefix + "-shallow"]), dict(color=color, marker=marker, linewidth=1.4)))

    figure, axes = plt.subplots(figsize=(9.5, 6.2), dpi=110)
    for label, points, style in lines:
        if not points:
            continue
        xs, ys = zip(*points)
        style.setdefault("linewidth", 1.4)
        style.setdefault("markersize", 5)
        axes.plot(xs, ys, label=label, **style)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.xaxis.set_major_locator(FixedLocator(SIZES))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: size_label(int(value))))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("array size (uint8 arrays, one producer and one consumer process)")
    axes.set_ylabel("throughput, GB/s (log)")
    machine = results.machine
    where = ", ".join(filter(None, [machine.get("cpu"), f"{machine.get('cores')} cores" if machine.get("cores") else None,
                                    f"L3 {machine['l3']}" if machine.get("l3") else None]))
    when = (machine.get("date") or "")[:10]
    kind = "quick run" if machine.get("quick") else "full run"
    axes.set_title(f"Moving arrays between two processes: throughput vs array size\n{where}; {when}, {kind}", fontsize=10)
    axes.grid(True, which="major", alpha=0.35)
    axes.grid(True, which="minor", axis="y", alpha=0.12)
    axes.legend(fontsize=8, loc="lower right", ncol=2, framealpha=0.92)
    origin = "all figures from one run"
    if overlaid:
        origin = f"ZeroMQ lines from a later run ({(results.transport_machine.get('date') or '')[:10]}), the others from one run"
    figure.text(0.01, 0.005, "peers: the better of a deep and a shallow channel at each size; raw pipeline: the best of its "
                f"measurements; {origin}",
                fontsize=7, color="0.35")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    print(f"plot.py: wrote {target}")


if __name__ == "__main__":
    main()
