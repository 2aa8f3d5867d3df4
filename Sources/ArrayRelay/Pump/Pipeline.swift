/// What `aq-relay serve` and `subscribe` run, and what a program embedding the relay starts and
/// stops: ``QueueRelay`` and ``Subscription``.
public protocol Pipeline: MetricsSource {
    /// Starts the pipeline's threads.
    func start()
    /// Stops taking new work, finishes the work in hand, flushes, and returns when done.
    func shutdown() async
}

extension QueueRelay: Pipeline {}
extension Subscription: Pipeline {}
