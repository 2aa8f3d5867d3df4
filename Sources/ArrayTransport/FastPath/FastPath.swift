/// Whether a ZeroMQ publisher and a subscriber (or a pusher and a puller) on the same host move
/// data through shared memory instead of the socket (docs/WIRE.md, "The same-host fast path").
///
/// A sender that binds offers, in its heartbeats, a registry queue and a nonce together with its
/// host's boot id. A receiver that connects to it and sees its own boot id creates a small queue
/// of its own and registers it; once the sender has written the nonce into it, with the name of
/// its data queue, the receiver switches to that queue: a broadcast queue that all the
/// publisher's local subscribers read (one copy whatever their number), or a plain queue whose
/// records the pusher's local pullers share. Otherwise it stays on the network. Messages keep
/// their stream, epoch and sequence number on either path, and a switch neither loses, repeats
/// nor reorders a message.
public enum FastPath: String, Sendable, Hashable, CaseIterable {
    /// Use shared memory when both sides can open the same queues; the network otherwise
    /// (the default).
    case automatic
    /// Always the network: a publisher offers nothing, a subscriber takes no offer.
    case disabled
    /// Shared memory only. A publisher fails to start without its registry and sends no data on
    /// the network (only heartbeats and `end`); a subscriber delivers nothing from the network
    /// and fails with ``TransportError/Code/fastPathUnavailable`` if it cannot switch in time.
    case required
}

/// The way a receiver's data messages arrive.
public enum TransportPath: String, Sendable, Hashable, CaseIterable {
    /// Through the ZeroMQ socket.
    case network
    /// Through a shared-memory queue of the receiver's own, written by a publisher on this host.
    case sharedMemory = "shared-memory"
}
