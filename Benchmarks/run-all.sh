#!/usr/bin/env bash
# Runs every benchmark in one go and publishes the results:
#
#   Benchmarks/run-all.sh            # full run (about 15-20 minutes)
#   QUICK=1 Benchmarks/run-all.sh    # short runs (about 4 minutes)
#   QUIET_WAIT=0 Benchmarks/run-all.sh   # do not wait for a quiet machine (seconds; default 600)
#   TRANSPORT_ONLY=1 Benchmarks/run-all.sh   # only the ZeroMQ and relay scenarios (about 4 minutes):
#                                            # docs/benchmarks/transport.jsonl, their tables and the
#                                            # plot's ZeroMQ lines (if .venv-plot has matplotlib); the
#                                            # shared-memory tables and the peers stay as they are
#
# 1. builds aq-bench (release; aq-relay is built next to it) and installs the peers and
#    matplotlib into virtual environments under Benchmarks/ (.venv-peers, .venv-arrayqueues,
#    .venv-plot; from PyPI);
# 2. waits, at most 10 minutes, until the 1-minute load average is below 0.6, so that other work
#    on the machine does not distort the figures (warns and goes on if it never gets that quiet);
# 3. runs aq-bench --json, then the peers (peers/run_peers.sh), in this one run;
# 4. writes docs/benchmarks/results.jsonl (a `machine` row first: CPU, cores, L3, kernel, date,
#    versions), docs/benchmarks/throughput.png (plot.py) and the tables in docs/BENCHMARKS.md
#    (table.py, between its results markers and its transport markers).
set -euo pipefail

benchmarks="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$benchmarks")"
out="$root/docs/benchmarks"
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)
transport_only="${TRANSPORT_ONLY:-0}"
log() { echo "run-all: $*" >&2; }
cd "$benchmarks"

log "building aq-bench (release)"
if ! swift build -c release --scratch-path .build >&2; then
    # SwiftPM can keep a build plan that misses a source file added to the library since the
    # last build; planning afresh fixes that.
    log "build failed; retrying with a fresh build plan"
    rm -f .build/release.yaml .build/release/description.json
    swift build -c release --scratch-path .build >&2
fi
aq_bench="$benchmarks/.build/release/aq-bench"

if [ "$transport_only" != 1 ]; then
    if [ ! -x .venv-plot/bin/python ] || ! .venv-plot/bin/python -c "import matplotlib" 2>/dev/null; then
        log "installing matplotlib into Benchmarks/.venv-plot"
        python3 -m venv .venv-plot
        .venv-plot/bin/pip install --quiet --disable-pip-version-check matplotlib >&2
    fi
    log "installing the peers"
    peers/run_peers.sh --install-only
fi

# Other work on the machine distorts the figures: wait (at most 10 minutes) for it to calm down.
quiet=0
for _ in $(seq 0 10 "${QUIET_WAIT:-600}"); do
    load="$(cut -d' ' -f1 /proc/loadavg)"
    if awk -v load="$load" 'BEGIN { exit !(load < 0.6) }'; then quiet=1; break; fi
    [ "${QUIET_WAIT:-600}" -gt 0 ] || break
    log "1-minute load average is $load; waiting for it to drop below 0.6"
    sleep 10
done
load="$(cut -d' ' -f1 /proc/loadavg)"
[ "$quiet" = 1 ] || log "warning: the 1-minute load average is $load, not below 0.6; measuring anyway, figures may be low"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The machine row: where and when, and which versions were measured.
versions="$(.venv-peers/bin/python - <<'EOF' 2>/dev/null || echo '{}'
import importlib.metadata as metadata, json, platform
versions = {"Python": platform.python_version()}
for package in ("numpy", "pyzmq", "faster-fifo", "iceoryx2"):
    try:
        versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(versions))
EOF
)"
[ "$transport_only" = 1 ] && versions='{}'  # no peers in this run
aq_versions="$(.venv-arrayqueues/bin/python -c 'import importlib.metadata as m, json; print(json.dumps({"arrayqueues": m.version("arrayqueues"), "numpy (for arrayqueues)": m.version("numpy")}))' 2>/dev/null || echo '{}')"
CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" \
CORES="$(nproc)" \
L3="$(lscpu | sed -n 's/^L3 cache: *//p' | head -n 1 | sed 's/ *(.*)//')" \
KERNEL="$(uname -r)" \
DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
SWIFT="$(swift --version 2>/dev/null | head -n 1)" \
LIBZMQ="$(dpkg-query -W -f='${Version}' libzmq5 2>/dev/null || true)" \
QUICK_RUN="${#quick[@]}" \
LOAD="$load" \
VERSIONS="$versions" AQ_VERSIONS="$([ "$transport_only" = 1 ] && echo '{}' || echo "$aq_versions")" \
python3 - > "$work/machine.jsonl" <<'EOF'
import json, os
versions = {**json.loads(os.environ["VERSIONS"] or "{}"), **json.loads(os.environ["AQ_VERSIONS"] or "{}")}
print(json.dumps({
    "scenario": "machine", "cpu": os.environ["CPU"], "cores": int(os.environ["CORES"]), "l3": os.environ["L3"],
    "kernel": os.environ["KERNEL"], "date": os.environ["DATE"], "quick": os.environ["QUICK_RUN"] != "0",
    "swift": os.environ["SWIFT"], "libzmq": os.environ["LIBZMQ"] or None, "load_before": float(os.environ["LOAD"]), "versions": versions,
}))
EOF

if [ "$transport_only" = 1 ]; then
    log "running aq-bench --only zmq,relay ${quick[*]:-}"
    "$aq_bench" --json --only zmq,relay ${quick[@]+"${quick[@]}"} > "$work/transport.jsonl" || log "warning: some scenarios failed (see above); going on"
    mkdir -p "$out"
    cat "$work/machine.jsonl" "$work/transport.jsonl" > "$out/transport.jsonl"
    log "wrote $out/transport.jsonl ($(wc -l < "$out/transport.jsonl") rows)"
    python3 table.py "$out/transport.jsonl" "$root/docs/BENCHMARKS.md"
    # The plot's ZeroMQ lines come from this run, the others from the last full run.
    if [ -f "$out/results.jsonl" ] && .venv-plot/bin/python -c "import matplotlib" 2>/dev/null; then
        .venv-plot/bin/python plot.py "$out/results.jsonl" "$out/throughput.png" "$out/transport.jsonl"
    else
        log "no matplotlib in Benchmarks/.venv-plot (or no results.jsonl): the plot stays as it was"
    fi
    exit 0
fi

log "running aq-bench ${quick[*]:-}"
"$aq_bench" --json ${quick[@]+"${quick[@]}"} > "$work/aq-bench.jsonl" || log "warning: some aq-bench scenarios failed (see above); going on"
log "running the peers"
peers/run_peers.sh ${quick[@]+"${quick[@]}"} --baselines "$work/aq-bench.jsonl" --aq-bench "$aq_bench" > "$work/peers.jsonl"

mkdir -p "$out"
cat "$work/machine.jsonl" "$work/aq-bench.jsonl" "$work/peers.jsonl" > "$out/results.jsonl"
log "wrote $out/results.jsonl ($(wc -l < "$out/results.jsonl") rows)"
# The ZeroMQ tables now come from this run too: a transport-only file of an earlier run is stale.
rm -f "$out/transport.jsonl"
.venv-plot/bin/python plot.py "$out/results.jsonl" "$out/throughput.png"
python3 table.py "$out/results.jsonl" "$root/docs/BENCHMARKS.md"
python3 peers/python_table.py "$out/results.jsonl" "$root/docs/BENCHMARKS.md"
