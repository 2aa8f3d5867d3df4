#!/usr/bin/env python3
"""Where a spinning round trip's time goes: the legs of `queue-pingpong-spinning`, from TSC stamps.

An experiment, not part of the build (docs/BENCHMARKS.md, "Where a spinning round trip goes").
Apply `round-trip-stamps.patch` to the library, build the release `aq-bench`, then

    python3 round_trip_stamps.py RUNS AQ_BENCH OUT_DIR

runs the scenario RUNS times. The patched library stamps the TSC, in both processes, into
/dev/shm/hackstamps at eight events of each put and get (indexed by the process's put or get
count); each run's file is kept in OUT_DIR with the run's JSON line. The legs of every round are
then put end to end (this process's put, the worker's get and put, this process's get) and
printed as medians over the runs of each run's median, split by the state of the VM in that run:
the raw spin round trip measured by the same run is either about 0.12 µs ("fast") or about
0.45 µs ("slow") on the machine of that section. The stamps themselves cost about 10 ns each.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

STAMPS = "/dev/shm/hackstamps"
EVENTS, SLOTS = 8, 8192          # per process, as in the patch
FIRST, ROUNDS = 100, 4900        # warm-up rounds skipped, rounds used
# Events: 0 put called, 2 tail stored (the record visible), 5 consumer saw the tail move,
# 6 claimed, 7 released. Each leg: (name, (process, event, round offset), (process, event, offset)),
# process 0 the measuring one, 1 the worker that answers.
LEGS = [
    ("put: called → tail stored", (0, 0, 0), (0, 2, 0)),
    ("tail stored → the consumer sees it", (0, 2, 0), (1, 5, 0)),
    ("seen → claimed", (1, 5, 0), (1, 6, 0)),
    ("claimed → released (an empty closure)", (1, 6, 0), (1, 7, 0)),
    ("released → the answer's put called", (1, 7, 0), (1, 0, 0)),
    ("put: called → tail stored", (1, 0, 0), (1, 2, 0)),
    ("tail stored → the consumer sees it", (1, 2, 0), (0, 5, 0)),
    ("seen → claimed", (0, 5, 0), (0, 6, 0)),
    ("claimed → released", (0, 6, 0), (0, 7, 0)),
    ("released → next put called (the harness's clock reads)", (0, 7, 0), (0, 0, 1)),
]


def tsc_ghz():
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    raise SystemExit("no cpu MHz in /proc/cpuinfo")


def legs_of(path, ghz):
    stamps = np.fromfile(path, dtype=np.uint64).reshape(2, EVENTS, SLOTS).astype(np.int64)

    def event(process, index, offset):
        return stamps[process, index, FIRST + offset:FIRST + offset + ROUNDS]

    legs = [np.median((event(*end) - event(*start)) / ghz) for _, start, end in LEGS]
    return legs + [np.median((event(0, 0, 1) - event(0, 0, 0)) / ghz)]


def main():
    runs, bench, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    ghz = tsc_ghz()
    rows = []
    for run in range(runs):
        if os.path.exists(STAMPS):
            os.remove(STAMPS)
        output = subprocess.run([bench, "--quick", "--only", "queue-pingpong-spinning", "--json"],
                                capture_output=True, text=True, cwd="/tmp").stdout
        line = json.loads(next(l for l in output.splitlines() if l.startswith("{")))
        kept = os.path.join(out, f"run{run}.bin")
        shutil.copy(STAMPS, kept)
        with open(os.path.join(out, "runs.jsonl"), "a") as log:
            log.write(json.dumps({"run": run, **line}) + "\n")
        rows.append((line, legs_of(kept, ghz)))
    os.remove(STAMPS)
    for state, chosen in (("fast", lambda l: l["baseline_value"] <= 0.15), ("slow", lambda l: l["baseline_value"] > 0.15)):
        picked = [(l, legs) for l, legs in rows if chosen(l)]
        if not picked:
            continue
        values = np.array([legs for _, legs in picked])
        median = lambda key: np.median([l[key] for l, _ in picked])
        print(f"\n{state}: {len(picked)} runs, queue p50 {median('p50_us'):.3f} µs, raw spin {median('baseline_value'):.3f} µs, "
              f"ratio {median('ratio'):.2f}")
        for (name, start, _), column in zip(LEGS, values[:, :-1].T):
            print(f"  {'AB'[start[0]]}  {name:58s} {np.median(column):5.0f} ns  [{np.percentile(column, 25):.0f}–{np.percentile(column, 75):.0f}]")
        print(f"     the whole round, stamped (put called to put called)           {np.median(values[:, -1]):5.0f} ns")


if __name__ == "__main__":
    main()
