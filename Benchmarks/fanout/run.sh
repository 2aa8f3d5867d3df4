#!/usr/bin/env bash
# Runs fanout-bench for this checkout and for another one (the baseline, e.g. main before the
# shared broadcast queue) in alternation, in one run, and prints one JSON line per measurement
# with "build": "this-borrow" (subscribers read in place), "this-copy" (subscribers copy each
# message out, as before) or "baseline" (copying subscribers; the baseline is built with
# AQ_BASELINE_API=1, since it has no borrowing receive).
#
#   BASELINE_ROOT=/path/to/other/checkout [BEFORE_ROOT=/path/to/checkout] Benchmarks/fanout/run.sh [rounds] [seconds]
#
# With BEFORE_ROOT (a checkout with the borrowing receive, e.g. main before a change), its
# borrowing subscribers run in alternation too, as "before-borrow": the before/after of a change.
# Builds each in release (scratch paths THIS_SCRATCH, BASELINE_SCRATCH, BEFORE_SCRATCH, under /tmp
# by default). Sizes 1 KiB, 1 MiB, 8 MiB; 1, 2, 3 subscribers. With `perf` installed, each line
# also has "cpu_ms": the CPU time of the whole run (publisher and subscribers, `perf stat -e
# task-clock`), which on a shared machine says more about the per-message work than the rate does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rounds="${1:-3}"
seconds="${2:-1}"
: "${BASELINE_ROOT:?set BASELINE_ROOT to the checkout to compare with}"
declare -A scratch=([this]="${THIS_SCRATCH:-/tmp/fanout-bench-this}" [baseline]="${BASELINE_SCRATCH:-/tmp/fanout-bench-baseline}"
                    [before]="${BEFORE_SCRATCH:-/tmp/fanout-bench-before}")
builds=(this-borrow this-copy baseline)
(cd "$here" && swift build -c release --scratch-path "${scratch[this]}" >&2)
(cd "$here" && AQ_BASELINE_API=1 AQ_PACKAGE_ROOT="$BASELINE_ROOT" swift build -c release --scratch-path "${scratch[baseline]}" >&2)
if [ -n "${BEFORE_ROOT:-}" ]; then
    (cd "$here" && AQ_PACKAGE_ROOT="$BEFORE_ROOT" swift build -c release --scratch-path "${scratch[before]}" >&2)
    builds=(this-borrow before-borrow this-copy baseline)
fi
stat_file="$(mktemp)"
trap 'rm -f "$stat_file"' EXIT
for round in $(seq "$rounds"); do
    for size in 1024 1048576 8388608; do
        for subscribers in 1 2 3; do
            for build in "${builds[@]}"; do
                load="$(cut -d' ' -f1 /proc/loadavg)"
                echo "fanout: round $round, $build, $subscribers × $size B (load $load)" >&2
                binary="${scratch[${build%-*}]}/release/fanout-bench"
                mode=copy
                [ "${build#*-}" = borrow ] && mode=borrow
                run=(timeout 120 "$binary" --subscribers "$subscribers" --size "$size" --seconds "$seconds" --mode "$mode")
                cpu=""
                if command -v perf >/dev/null; then
                    line="$(perf stat -x, -e task-clock -o "$stat_file" -- "${run[@]}" | tail -n 1)"
                    cpu="$(grep task-clock "$stat_file" | cut -d, -f1)"
                else
                    line="$("${run[@]}" | tail -n 1)"
                fi
                echo "${line%\}}, \"build\": \"$build\", \"round\": $round, \"load\": $load${cpu:+, \"cpu_ms\": $cpu}}"
            done
        done
    done
done
