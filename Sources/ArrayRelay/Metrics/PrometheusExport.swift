public import Prometheus
import Synchronization

/// Renders ``Sample``s in the Prometheus text format through swift-prometheus.
///
/// The relay's and the queues' counters live where they are counted (atomics in the pump, the
/// queue's header in shared memory) and are read when someone scrapes; this type carries each
/// reading into the metrics of a `PrometheusCollectorRegistry` — a counter moves by the
/// difference to its last reading, a gauge is set — and lets the registry write the text. The
/// registry can be handed to `PrometheusMetricsFactory` too, so that swift-metrics metrics of
/// the same program appear on the same page.
public final class PrometheusExport: Sendable {
    /// The registry the samples are written into.
    public let registry: PrometheusCollectorRegistry
    private struct Tracked: Sendable {
        var counter: Counter?
        var gauge: Gauge?
        var last: Double
    }
    private let tracked = Mutex<[String: Tracked]>([:])

    /// An export into `registry` (by default a new one).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// Updates the registry with `samples` and returns the whole registry as text.
    public func render(_ samples: [Sample]) -> String {
        update(samples)
        return registry.emitToString()
    }

    /// Writes `samples` into the registry.
    public func update(_ samples: [Sample]) {
        tracked.withLock { tracked in
            for sample in samples {
                let key = sample.name + "\u{0}" + sample.labels.map { $0.0 + "=" + $0.1 }.joined(separator: "\u{0}")
                switch sample.kind {
                case .gauge:
                    let gauge = tracked[key]?.gauge ?? registry.makeGauge(descriptor: MetricNameDescriptor(metricName: sample.name, unitName: "", helpText: sample.help), labels: sample.labels)
                    gauge.set(to: sample.value.isFinite ? sample.value : 0)
                    tracked[key] = Tracked(counter: nil, gauge: gauge, last: sample.value)
                case .counter:
                    guard sample.value.isFinite, sample.value >= 0 else { continue }
                    var entry = tracked[key] ?? Tracked(counter: registry.makeCounter(descriptor: MetricNameDescriptor(metricName: sample.name, unitName: "", helpText: sample.help), labels: sample.labels), gauge: nil, last: 0)
                    if sample.value < entry.last, let counter = entry.counter {
                        // The source started again (a queue removed and created anew): so does the series.
                        counter.reset()
                        entry.last = 0
                    }
                    let delta = sample.value - entry.last
                    if delta > 0 {
                        if delta == delta.rounded(), delta < 9e18 { entry.counter?.increment(by: Int64(delta)) } else { entry.counter?.increment(by: delta) }
                    }
                    entry.last = sample.value
                    tracked[key] = entry
                }
            }
        }
    }
}
