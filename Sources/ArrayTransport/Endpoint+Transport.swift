import ArrayQueues

/// Whether an endpoint is bound (listened on) or connected to.
public enum ConnectionRole: String, Sendable, Hashable, CaseIterable {
    /// Listen on the endpoint; peers connect to it.
    case bind
    /// Connect to a peer that listens on the endpoint.
    case connect
}

extension Endpoint {
    /// A sender for this endpoint: the shared-memory queue for `shm://NAME` (the role does not
    /// apply: the queue is there for any process of the host; the pattern means the same as on
    /// the network: a plain queue for push, a broadcast queue for publish), ZeroMQ for `tcp://`
    /// and `ipc://`.
    public func makeSender(
        stream: String, pattern: ZeroMQSender.Pattern = .push, role: ConnectionRole = .bind,
        sharedMemory: SharedMemorySender.Options = .init(), zeroMQ: ZeroMQSender.Options = .init()
    ) throws(TransportError) -> any ArraySender {
        switch self {
        case let .sharedMemory(name):
            var options = sharedMemory
            options.broadcast = pattern == .publish
            return try SharedMemorySender(name: name, options: options)
        case .tcp, .ipc:
            return try ZeroMQSender(pattern, stream: stream, bind: role == .bind ? [self] : [], connect: role == .connect ? [self] : [], options: zeroMQ)
        }
    }

    /// A receiver for this endpoint: the shared-memory queue for `shm://NAME`, ZeroMQ for
    /// `tcp://` and `ipc://`. `sharedMemory` says whose queues to use and the mode of one it
    /// creates. On `shm://`, pull takes records from a plain queue (shared with the other
    /// pullers) and subscribe reads every record of a broadcast queue from now on, as a `drop`
    /// subscriber (a slow one skips and counts the loss); the prefixes do not apply (a queue
    /// is one stream).
    public func makeReceiver(
        pattern: ZeroMQReceiver.Pattern = .pull, role: ConnectionRole = .connect,
        sharedMemory: SharedMemoryAccess = .init(), zeroMQ: ZeroMQReceiver.Options = .init()
    ) throws(TransportError) -> any ArrayReceiver {
        switch self {
        case let .sharedMemory(name):
            var subscription: SubscriberPolicy?
            if case .subscribe = pattern { subscription = .drop }
            return try SharedMemoryReceiver(name: name, access: sharedMemory, subscription: subscription)
        case .tcp, .ipc:
            return try ZeroMQReceiver(pattern, bind: role == .bind ? [self] : [], connect: role == .connect ? [self] : [], options: zeroMQ)
        }
    }
}
