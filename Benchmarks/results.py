"""Reading docs/benchmarks/results.jsonl: what plot.py and table.py share.

The file holds one JSON object per line: first a `machine` row (where and when the run took
place, which versions it measured), then aq-bench's rows, then the peers' rows, all in one
schema (see Benchmarks/README.md).
"""

import json

SIZES = [1 << 10, 64 << 10, 1 << 20, 8 << 20, 64 << 20]

# The peers, in the order they are shown: (scenario prefix, name for people).
PEERS = [
    ("peer-arrayqueues-swift-zerocopy", "arrayqueues_swift zero-copy (Python)"),
    ("peer-arrayqueues-swift", "arrayqueues_swift copy (Python)"),
    ("peer-iceoryx2", "iceoryx2 (Python)"),
    ("peer-arrayqueues", "arrayqueues 1.4.1"),
    ("peer-pyzmq-tcp", "pyzmq, tcp loopback"),
    ("peer-faster-fifo", "faster-fifo"),
    ("peer-mpqueue", "multiprocessing.Queue"),
]

# The ZeroMQ scenarios (zmq-tcp, zmq-ipc): array sizes, and each link as (ArrayTransport's row,
# libzmq C API's row, name for people).
TRANSPORT_SIZES = [64 << 10, 1 << 20, 8 << 20, 64 << 20]
TRANSPORT_LINKS = [
    ("zmq-tcp", "libzmq-tcp", "push/pull, tcp loopback"),
    ("zmq-ipc", "libzmq-ipc", "push/pull, ipc://"),
    ("zmq-tcp-pubsub", "libzmq-tcp-pubsub", "pub/sub, tcp loopback"),
    ("zmq-tcp-pubsub-bind", "libzmq-tcp-pubsub-bind", "pub/sub, tcp loopback, publisher binds"),
]
# The same-host fast path (zmq-fastpath): its sizes, and its rows, each the same figure against
# another baseline: (row, what it is divided by, for people).
FASTPATH_SIZES = [1 << 20, 8 << 20, 64 << 20]
FASTPATH_ROWS = [
    ("zmq-fastpath", "÷ ArrayTransport over tcp (fast path disabled)"),
    ("zmq-fastpath-vs-libzmq", "÷ libzmq C API over tcp"),
    ("zmq-fastpath-vs-memcpy", "÷ memcpy (one thread, hot buffers)"),
]
# The relay scenario's rows: (row, name for people); the first is the baseline.
RELAY_ROWS = [
    ("relay-direct", "producer → tcp → receiver (direct)"),
    ("relay", "producer → queue → `aq-relay serve` → tcp → receiver"),
    ("relay-zerocopy", "the same with `aq-relay serve --zero-copy`"),
]

# Every row name of the ZeroMQ and relay scenarios (their tables: transport_tables.py).
TRANSPORT_SCENARIOS = ({name for link in TRANSPORT_LINKS for name in link[:2]} | {name for name, _ in RELAY_ROWS}
                       | {name for name, _ in FASTPATH_ROWS} | {"zmq-curve"})


def size_label(size):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


class Results:
    def __init__(self, path):
        self.rows = []
        self.machine = {}
        # The machine row of the run the ZeroMQ rows come from, if another (overlay_transport).
        self.transport_machine = None
        with open(path) as lines:
            for line in lines:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                row = json.loads(line)
                if row.get("scenario") == "machine":
                    self.machine = row
                else:
                    self.rows.append(row)

    def overlay_transport(self, other):
        """Takes the ZeroMQ and relay rows from `other` (a later transport-only run) instead of
        this file's rows of the same scenarios; returns whether there were any."""
        rows = [row for row in other.rows if row["scenario"] in TRANSPORT_SCENARIOS]
        if not rows:
            return False
        replaced = {row["scenario"] for row in rows}
        self.rows = [row for row in self.rows if row["scenario"] not in replaced] + rows
        self.transport_machine = other.machine
        return True

    def find(self, scenario, size=None):
        """The first row of `scenario` (and `size`), or None."""
        for row in self.rows:
            if row["scenario"] == scenario and (size is None or row.get("size_bytes") == size):
                return row
        return None

    def value(self, scenario, size, field):
        """A field of a row; `gbps`, `ratio` and `ratio_raw` are recomputed from the unrounded
        figures where possible (the JSON rounds to 3 decimals, too coarse for slow peers)."""
        row = self.find(scenario, size)
        if row is None:
            return None
        if field in ("gbps", "ratio", "ratio_raw"):
            gbps = row.get("gbps")
            if row.get("records_per_s") is not None and row.get("size_bytes") and gbps is not None:
                gbps = row["records_per_s"] * row["size_bytes"] / 1e9
            if field == "gbps":
                return gbps
            if field == "ratio" and row.get("baseline_unit") == "GB/s" and gbps is not None and row.get("baseline_value"):
                return gbps / row["baseline_value"]
            if field == "ratio_raw" and gbps is not None and row.get("raw_pipeline_gbps"):
                return gbps / row["raw_pipeline_gbps"]
        return row.get(field)

    def best(self, scenarios, size, field="gbps"):
        """The largest `field` among the rows of `scenarios` of that size, and its scenario."""
        found = [(self.value(scenario, size, field), scenario) for scenario in scenarios]
        found = [pair for pair in found if pair[0] is not None]
        return max(found) if found else (None, None)

    def raw_pipeline(self, suffix, size):
        """GB/s of the raw pipeline with the deep (`""`) or shallow (`"-shallow"`) ring: the best
        of all its measurements in the run, its own scenario's and those paired with
        `queue-copy` and `queue-zerocopy` (`raw_pipeline_gbps`). It is an upper bound, and on a
        virtual machine a single measurement can land in a slow moment (see docs/BENCHMARKS.md)."""
        values = [self.value("shm-pipeline" + suffix, size, "gbps")]
        values += [self.value(scenario + suffix, size, "raw_pipeline_gbps") for scenario in ("queue-copy", "queue-zerocopy")]
        values = [value for value in values if value]
        return max(values) if values else None

    def notes(self, prefix):
        """Notes of the rows whose scenario starts with `prefix`: why something is missing."""
        return [(row["scenario"], row.get("size_bytes"), row["note"]) for row in self.rows
                if row["scenario"].startswith(prefix) and row.get("note")]

    def has_transport(self):
        """Whether the file holds rows of the ZeroMQ and relay scenarios."""
        return any(row["scenario"] in TRANSPORT_SCENARIOS for row in self.rows)

    def has_queues(self):
        """Whether the file holds rows of the shared-memory scenarios (or the peers)."""
        return any(row["scenario"].startswith(("queue-", "shm-pipeline", "peer-")) for row in self.rows)

    def has(self, scenario):
        return any(row["scenario"] == scenario and row.get("gbps") is not None for row in self.rows)
