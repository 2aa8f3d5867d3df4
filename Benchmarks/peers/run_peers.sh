#!/usr/bin/env bash
# Measures the peers of ArrayQueues (Python multiprocessing.Queue, the original arrayqueues 1.4.1,
# faster-fifo, iceoryx2's Python binding, pyzmq over tcp loopback) and ArrayQueues driven from
# Python (the arrayqueues_swift package of python/, copying and zero-copy), and prints one JSON
# object per line, in aq-bench's schema (see peer_bench.py).
#
#   Benchmarks/peers/run_peers.sh [--quick] [--baselines aq-bench.jsonl] [--aq-bench PATH]
#   Benchmarks/peers/run_peers.sh --install-only
#
# Installs everything from PyPI into virtual environments next to it (Benchmarks/.venv-peers, and
# Benchmarks/.venv-arrayqueues for arrayqueues 1.4.1, which needs numpy < 2); arrayqueues_swift is
# built from this checkout (`pip install ./python`, a release build of the C library). A peer that cannot be
# installed, or whose run fails, gets a row with a `note` saying why; the others still run.
# QUICK=1 in the environment is the same as --quick; PEERS="a b" measures only those peers;
# ROUNDS=N measures the peers N times in turn (a, b, a, b, ...), so that a slow or fast phase
# of a shared machine does not fall on one peer alone (python_table.py takes each figure's best).
# Progress goes to standard error.
# --baselines: aq-bench's JSON results of the same run (for the ratios); --aq-bench: the aq-bench
# executable (to measure the raw pipeline next to each figure); --install-only: set up and stop.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
benchmarks="$(dirname "$here")"
quick=()
baselines=()
aq_bench=()
install_only=0
[ "${QUICK:-0}" = 1 ] && quick=(--quick)
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=(--quick) ;;
        --baselines) baselines=(--baselines "$2"); shift ;;
        --aq-bench) aq_bench=(--aq-bench "$2"); shift ;;
        --install-only) install_only=1 ;;
        *) echo "run_peers.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "run_peers: $*" >&2; }

# A row for a peer that could not be measured at all.
failure_row() {
    SCENARIO="$1" NOTE="$2" python3 -c '
import json, os
fields = ["scenario", "size_bytes", "records", "seconds", "gbps", "records_per_s", "p50_us", "p99_us", "p999_us",
          "baseline", "baseline_value", "baseline_unit", "ratio", "note", "ring_records", "raw_pipeline_gbps", "ratio_raw"]
row = dict.fromkeys(fields)
row.update(scenario=os.environ["SCENARIO"], note=os.environ["NOTE"])
print(json.dumps(row), flush=True)'
}

# make_venv DIR: creates the virtual environment unless it exists. install DIR SPEC...: installs
# into it; on failure, remembers the last line pip printed in $install_error.
install_error=""
make_venv() {
    [ -x "$1/bin/python" ] && return 0
    log "creating $1"
    install_error="$(python3 -m venv "$1" 2>&1 | tail -n 1)" && [ -x "$1/bin/python" ]
}
install() {
    local venv="$1"; shift
    log "installing $* into $(basename "$venv")"
    local output
    if output="$(timeout 900 "$venv/bin/pip" install --disable-pip-version-check --quiet "$@" 2>&1)"; then
        return 0
    fi
    install_error="pip install $* failed: $(printf '%s\n' "$output" | grep -v '^\s*$' | tail -n 1)"
    log "$install_error"
    return 1
}

peers_venv="$benchmarks/.venv-peers"
aq_venv="$benchmarks/.venv-arrayqueues"
declare -A broken=()   # peer -> why it cannot run

if make_venv "$peers_venv" && install "$peers_venv" numpy; then
    install "$peers_venv" pyzmq || broken[pyzmq-tcp]="$install_error"
    install "$peers_venv" faster-fifo || broken[faster-fifo]="$install_error"
    install "$peers_venv" iceoryx2 || broken[iceoryx2]="$install_error"
    if ! install "$peers_venv" --no-deps --force-reinstall "$(dirname "$benchmarks")/python"; then
        broken[arrayqueues-swift]="$install_error"
        broken[arrayqueues-swift-zerocopy]="$install_error"
    fi
else
    for peer in mpqueue pyzmq-tcp faster-fifo iceoryx2 arrayqueues-swift arrayqueues-swift-zerocopy; do
        broken[$peer]="${install_error:-cannot create $peers_venv}"
    done
fi
# arrayqueues 1.4.1 calls np.product, which numpy 2 removed: it gets an environment of its own.
if ! { make_venv "$aq_venv" && install "$aq_venv" "arrayqueues==1.4.1" "numpy<2"; }; then
    broken[arrayqueues]="${install_error:-cannot create $aq_venv}"
fi

if [ "$install_only" = 1 ]; then
    for peer in "${!broken[@]}"; do log "warning: $peer cannot run: ${broken[$peer]}"; done
    exit 0
fi

# One peer at a time, each bounded in time; a failure is a row, not the end of the run.
limit=1200
[ ${#quick[@]} -gt 0 ] && limit=600
peers=(${PEERS:-mpqueue arrayqueues faster-fifo iceoryx2 pyzmq-tcp arrayqueues-swift arrayqueues-swift-zerocopy})
rounds="${ROUNDS:-1}"
for ((round = 1; round <= rounds; round++)); do
    [ "$rounds" -gt 1 ] && log "round $round of $rounds"
    for peer in "${peers[@]}"; do
        if [ -n "${broken[$peer]:-}" ]; then
            failure_row "peer-$peer" "not installed: ${broken[$peer]}"
            continue
        fi
        venv="$peers_venv"
        [ "$peer" = arrayqueues ] && venv="$aq_venv"
        log "measuring $peer"
        output="$(mktemp)"
        timeout --kill-after=10 "$limit" "$venv/bin/python" "$here/peer_bench.py" --peer "$peer" \
            ${quick[@]+"${quick[@]}"} ${baselines[@]+"${baselines[@]}"} ${aq_bench[@]+"${aq_bench[@]}"} > "$output"
        status=$?
        cat "$output"
        if [ "$status" -ne 0 ]; then
            reason="exited with status $status"
            [ "$status" -eq 124 ] && reason="did not finish within $limit s and was stopped"
            failure_row "peer-$peer" "peer_bench.py $reason; rows above it, if any, are complete"
        fi
        rm -f "$output"
    done
done
