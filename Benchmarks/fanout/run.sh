#!/usr/bin/env bash
# Runs fanout-bench for this checkout and for another one (the baseline, e.g. main before the
# shared broadcast queue) in alternation, in one run, and prints one JSON line per measurement
# with "build": "this-borrow" (subscribers read in place), "this-copy" (subscribers copy each
# message out, as before) or "baseline" (copying subscribers; the baseline is built with
# AQ_BASELINE_API=1, since it has no borrowing receive).
#
#   BASELINE_ROOT=/path/to/other/checkout Benchmarks/fanout/run.sh [rounds] [seconds]
#
# Builds both in release (scratch paths THIS_SCRATCH and BASELINE_SCRATCH, under /tmp by default).
# Sizes 1 KiB, 1 MiB, 8 MiB; 1, 2, 3 subscribers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rounds="${1:-3}"
seconds="${2:-1}"
: "${BASELINE_ROOT:?set BASELINE_ROOT to the checkout to compare with}"
declare -A scratch=([this]="${THIS_SCRATCH:-/tmp/fanout-bench-this}" [baseline]="${BASELINE_SCRATCH:-/tmp/fanout-bench-baseline}")
(cd "$here" && swift build -c release --scratch-path "${scratch[this]}" >&2)
(cd "$here" && AQ_BASELINE_API=1 AQ_PACKAGE_ROOT="$BASELINE_ROOT" swift build -c release --scratch-path "${scratch[baseline]}" >&2)
for round in $(seq "$rounds"); do
    for size in 1024 1048576 8388608; do
        for subscribers in 1 2 3; do
            for build in this-borrow this-copy baseline; do
                echo "fanout: round $round, $build, $subscribers × $size B (load $(cut -d' ' -f1 /proc/loadavg))" >&2
                binary="${scratch[${build%-*}]}/release/fanout-bench"
                mode=copy
                [ "$build" = this-borrow ] && mode=borrow
                line="$(timeout 120 "$binary" --subscribers "$subscribers" --size "$size" --seconds "$seconds" --mode "$mode" | tail -n 1)"
                echo "${line%\}}, \"build\": \"$build\", \"round\": $round, \"load\": $(cut -d' ' -f1 /proc/loadavg)}"
            done
        done
    done
done
