#!/usr/bin/env bash
# Two test hosts on this machine, and aq-relay between them.
#
# Host A and host B are network namespaces joined by a veth pair (link-local addresses, inside
# the two namespaces only: no traffic leaves them). Each host's processes run in a mount namespace
# of their own with a fresh tmpfs on /dev/shm, so host B cannot see host A's queues: the arrays can
# only travel over the network. Both hosts even use the same queue name.
#
#   host A: demo-worker produce ─▶ queue "frames" ─▶ aq-relay serve ──tcp, veth──┐
#   host B: aq-relay subscribe ◀─────────────────────────────────────────────────┤
#             └─▶ queue "frames" ─▶ demo-worker verify (every frame, bit for bit)   │
#           two-hosts-subscriber.py (pyzmq + numpy) ◀──────────────────────────────┘
#
# Passes when the Swift and the Python subscriber each receive all N arrays bit-exact, in order.
# Cleans up (processes, namespaces, files) on exit, also on failure or Ctrl-C.
#
# usage: sudo deploy/two-hosts.sh          (N=64 SIZE=512 RATE=50 by default; AQ_RELAY=path skips the build)
# needs: root, iproute2 (ip netns), util-linux (unshare), python3 with pyzmq and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-64}
SIZE=${SIZE:-512}
# Frames per second. Pub/sub drops frames for a subscriber that falls behind (by design), and the
# Python subscriber checks every pixel with numpy: keep big frames slow enough for it.
RATE=${RATE:-$(( SIZE > 1024 ? 10 : 50 ))}
TAG="aqr$$"
NS_A="$TAG-a" NS_B="$TAG-b"
VETH_A="$TAG-a0" VETH_B="$TAG-b0"
ADDRESS_A=169.254.250.1 ADDRESS_B=169.254.250.2
PORT=5555
WORK=$(mktemp -d /tmp/aq-two-hosts.XXXXXX)
chmod 755 "$WORK"
PIDS=()

say() { echo "two-hosts: $*"; }

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        say "FAILED (status $status); logs:"
        for log in "$WORK"/*.log "$WORK"/*.out; do [ -s "$log" ] && { echo "--- $(basename "$log")"; tail -n 20 "$log"; }; done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "two-hosts: needs root (network and mount namespaces)" >&2; exit 2; }
python3 -c 'import zmq, numpy' 2>/dev/null || { echo "two-hosts: needs python3 with pyzmq and numpy (scripts/bootstrap installs them)" >&2; exit 2; }

if [ -z "${AQ_RELAY:-}" ]; then
    say "building aq-relay (release)"
    swift build -c release --product aq-relay >/dev/null
    AQ_RELAY="$(swift build -c release --show-bin-path)/aq-relay"
fi
[ -x "$AQ_RELAY" ] || { echo "two-hosts: $AQ_RELAY is not an executable" >&2; exit 2; }

say "hosts $NS_A ($ADDRESS_A) and $NS_B ($ADDRESS_B), veth $VETH_A ↔ $VETH_B"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add "$ADDRESS_A/30" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDRESS_B/30" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

# Runs a shell script on a host: its network namespace, plus a private /dev/shm.
on_host() {
    local ns=$1 script=$2 log=$3
    setsid ip netns exec "$ns" unshare --mount --propagation private \
        sh -c 'mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm && exec bash -c "$0"' "$script" >"$log" 2>&1 &
    PIDS+=($!)
}

export AQ_RELAY WORK N SIZE RATE ADDRESS_A PORT
ENDPOINT="tcp://$ADDRESS_A:$PORT"
export ENDPOINT

on_host "$NS_B" '
    set -e
    "$AQ_RELAY" subscribe "$ENDPOINT" --queue frames --capacity 512MiB --stream frames --heartbeat 0.2 \
        --control "ipc://$WORK/b.sock" --stats-interval 0 2>"$WORK/b-subscribe.log" &
    subscriber=$!
    python3 deploy/two-hosts-subscriber.py "$ENDPOINT" frames "$N" "$SIZE" "$WORK/python.ready" >"$WORK/b-python.out" 2>&1 &
    python=$!
    for _ in $(seq 200); do
        "$AQ_RELAY" stats --control "ipc://$WORK/b.sock" 2>/dev/null | grep -q "^aq_relay_heartbeats_total{.*} [1-9]" && break
        sleep 0.1
    done
    touch "$WORK/swift.ready"
    "$AQ_RELAY" demo-worker verify frames --size "$SIZE" --count "$N" --exact --timeout 60 >"$WORK/b-verify.out"
    wait "$python"
    kill -TERM "$subscriber"; wait "$subscriber"
    ls /dev/shm >"$WORK/b-shm.txt"
' "$WORK/host-b.log"
HOST_B=${PIDS[-1]}

on_host "$NS_A" '
    set -e
    "$AQ_RELAY" serve --queue "frames=tcp://$ADDRESS_A:$PORT" --create-capacity 64MiB --heartbeat 0.2 \
        --control none --stats-interval 0 2>"$WORK/a-serve.log" &
    relay=$!
    for _ in $(seq 300); do [ -e "$WORK/swift.ready" ] && [ -e "$WORK/python.ready" ] && break; sleep 0.1; done
    "$AQ_RELAY" demo-worker produce frames --size "$SIZE" --count "$N" --rate "$RATE" >"$WORK/a-produce.out"
    sleep 1
    kill -TERM "$relay"; wait "$relay"
    ls /dev/shm >"$WORK/a-shm.txt"
' "$WORK/host-a.log"
HOST_A=${PIDS[-1]}

say "streaming $N frames of ${SIZE}×${SIZE} uint16 from host A to host B"
deadline=$((SECONDS + 180))
for pid in "$HOST_A" "$HOST_B"; do
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || { say "timed out"; exit 1; }
        sleep 0.2
    done
    wait "$pid" || { say "a host failed"; exit 1; }
done

produced=$(cat "$WORK/a-produce.out")
verified=$(cat "$WORK/b-verify.out")
python=$(cat "$WORK/b-python.out")
say "host A producer: $produced"
say "host B Swift subscriber (aq-relay subscribe → queue → verify): $verified"
say "host B Python subscriber (pyzmq): $python"
say "host A /dev/shm: $(tr '\n' ' ' <"$WORK/a-shm.txt")| host B /dev/shm: $(tr '\n' ' ' <"$WORK/b-shm.txt")"

[[ "$produced" == "frames=$N "* ]] || { say "the producer did not write $N frames"; exit 1; }
[[ "$verified" == "frames=$N "*" bad=0 disorder=0 gaps=0 first=0 last=$((N - 1)) "* ]] || { say "the Swift subscriber did not get $N intact frames"; exit 1; }
[ "$python" = "OK $N" ] || { say "the Python subscriber did not get $N intact frames"; exit 1; }
[ -e /dev/shm/aq.frames ] && { say "a queue leaked into this machine's /dev/shm"; exit 1; }
say "PASS: $N arrays arrived bit-exact at both subscribers over the veth pair (no shared memory between the hosts)"
