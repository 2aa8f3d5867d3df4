import ArrayQueues

/// A subscriber's or puller's side of the same-host fast path (docs/WIRE.md, "The same-host
/// fast path"): the phase it is in and the queues it uses. It lives in the receiver's state, behind its lock;
/// ``ZeroMQReceiver`` drives it.
struct FastPathLink {
    /// One try to take one publisher's offer.
    struct Attempt {
        let stream: String
        let epoch: UInt64
        let nonce: String
        /// The CURVE public key the hello must carry (the server's the receiver connects to).
        let serverKey: String?
        /// The receiver's own queue: the handshake and `leave`.
        let queueName: String
        let queue: ArrayQueue
        /// Whether the receiver is a puller: its messages come from the pusher's plain data queue.
        let pull: Bool
        /// A puller's: the pusher's data queue, opened when its hello named it.
        var shared: ArrayQueue?
        /// A subscriber's: its subscription to the publisher's broadcast queue, taken before it
        /// registered if that queue was there already (so that it misses nothing from the cut
        /// on), else when the hello named it.
        var subscription: BroadcastSubscriber?
        /// The publisher's registry, kept open to tell whether the publisher is still there.
        let registry: ArrayQueue
        let publisherPID: Int32
        /// When the phase under way must be over (monotonic nanoseconds).
        var deadline: Int64
        /// A subscriber's: why it must leave the fast path, once it has read what the broadcast
        /// queue still holds (a `leave` taken from its own queue, or the publisher gone).
        var pendingLeave: String? = nil
        /// The `end` the sender put into the receiver's own queue (the data queue had no room
        /// for it), delivered once the data queue is read to its end.
        var pendingEnd: WireHeader? = nil
    }

    /// What a publisher puts into a receiver's own queue after the hello.
    enum Notice {
        /// It stops feeding the receiver, for this reason.
        case leave(String)
        /// It closed the stream; the broadcast queue could not take this `end`.
        case end(WireHeader)
    }

    /// The next `leave` or `end` of `attempt`'s stream waiting in its own queue; other
    /// records there are taken and ignored.
    static func notice(for attempt: Attempt) -> Notice? {
        let notice = try? attempt.queue.tryGet { record throws(TransportError) -> Notice? in
            guard record.isEnvelope else { return nil }
            let header = try Envelope.read(record.bytes, maximumArrays: 0).0
            if case let .leave(reason)? = header.fastPath { return .leave(reason) }
            guard header.kind == .end, header.fastPath == nil, header.stream.isSameStream(as: attempt.stream), header.epoch == attempt.epoch else { return nil }
            return .end(header)
        }
        return notice ?? nil
    }

    /// Why a receiver must leave the fast path, if it must.
    enum Departure {
        /// The publisher said so in the receiver's own queue.
        case notice(Notice)
        /// The publisher is gone (closed or dead) without a notice, for this reason.
        case gone(String)
    }

    /// A notice in `attempt`'s own queue, or else the publisher gone. The own queue is read
    /// again once the publisher is found gone: a closing publisher puts its `end` there before
    /// it removes its registry, and both may happen between the first read and the check.
    static func departure(for attempt: Attempt) -> Departure? {
        if let notice = notice(for: attempt) { return .notice(notice) }
        guard let reason = publisherGone(attempt) else { return nil }
        return notice(for: attempt).map(Departure.notice) ?? .gone(reason)
    }

    /// Where the subscriber stands.
    enum Phase {
        /// Messages come from the socket; offers are watched for.
        case network
        /// Registered; waiting for the publisher's hello in the subscriber's queue.
        case awaitingHello(Attempt)
        /// The hello says that the queue starts at `cut`: the socket still delivers the
        /// messages before it, the queue those from it on.
        case draining(Attempt, cut: UInt64)
        /// Messages come from the queue; the socket's subscriptions are dropped.
        case sharedMemory(Attempt)
    }

    /// How long the publisher has to answer a registration with its hello.
    static let helloTimeoutNanoseconds: Int64 = 2_000_000_000
    /// Offers remembered as tried, so that a failing publisher is not tried again and again.
    static let settledCapacity = 64
    /// The wait after a failed attempt before another offer is tried, doubled after each
    /// further failure up to ``longestBackoffNanoseconds``: a stream of forged offers costs
    /// the receiver one cheap check every so often, not one queue per offer.
    static let firstBackoffNanoseconds: Int64 = 500_000_000
    static let longestBackoffNanoseconds: Int64 = 30_000_000_000
    /// A receiver's own queue: the hello and `leave`.
    static let ownQueueCapacity = 64 << 10

    let mode: FastPath
    /// Whether the receiver is a puller (see ``Attempt/pull``).
    let pull: Bool
    /// The CURVE public key of the server this receiver connects to, if CURVE is on: offers and
    /// hellos must carry it.
    let serverKey: String?
    /// No attempt starts before this (monotonic nanoseconds).
    var nextAttemptAllowed: Int64 = .min
    /// Attempts that failed in a row.
    var failures = 0
    var phase: Phase = .network
    /// Publishers (by nonce) whose offer was tried, successfully or not: not tried again.
    private(set) var settled: [String] = []
    /// The highest data `seq` delivered of one stream and epoch (the latest one, or the one the
    /// fast path is for): a message that the other path brings again is discarded.
    var delivered: (stream: String, epoch: UInt64, sequence: Int64)?
    /// The highest `seq` the socket has shown, of any kind, for the attempt's epoch.
    var networkSeen: Int64 = -1
    /// With ``FastPath/required``: when the receiver must be on shared memory (monotonic ns).
    var requiredDeadline: Int64?
    /// A puller on shared memory: when it last looked at its socket (monotonic ns).
    var lastSocketCheck: Int64 = 0
    /// Why the fast path was last not taken, or left.
    var problem: String?
    /// Parts of the last header read from a data queue, for the next (see ``WireHeaderCache``).
    let headerCache = WireHeaderCache()

    init(mode: FastPath, serverKey: String? = nil, pull: Bool = false) {
        self.mode = mode
        self.pull = pull
        self.serverKey = serverKey
    }

    /// Whether an offer may be tried now (see ``firstBackoffNanoseconds``).
    func mayAttempt(now: Int64) -> Bool { now >= nextAttemptAllowed }

    /// Records how an attempt (its start, or its handshake) ended.
    mutating func noteAttempt(succeeded: Bool, now: Int64) {
        if succeeded {
            failures = 0
            nextAttemptAllowed = .min
        } else {
            failures += 1
            let backoff = Self.firstBackoffNanoseconds << min(failures - 1, 6)
            nextAttemptAllowed = now + min(backoff, Self.longestBackoffNanoseconds)
        }
    }

    /// The attempt under way, whatever its phase.
    var attempt: Attempt? {
        switch phase {
        case .network: nil
        case let .awaitingHello(attempt), let .draining(attempt, _), let .sharedMemory(attempt): attempt
        }
    }

    /// What a subscriber on shared memory needs for each message.
    typealias Feed = (subscription: BroadcastSubscriber, stream: String, epoch: UInt64)

    /// A subscriber's on shared memory with its subscription: read without copying the whole
    /// attempt (several strings and queues), which each message would otherwise pay for.
    var feed: Feed? {
        guard case let .sharedMemory(attempt) = phase, !attempt.pull, let subscription = attempt.subscription else { return nil }
        return (subscription, attempt.stream, attempt.epoch)
    }

    /// Whether the messages come from the subscriber's queue now.
    var isOnSharedMemory: Bool {
        if case .sharedMemory = phase { return true }
        return false
    }

    /// Records a data message delivered (from either path).
    mutating func noteDelivered(_ header: WireHeader) {
        if let last = delivered, last.stream.isSameStream(as: header.stream), last.epoch == header.epoch {
            delivered?.sequence = max(last.sequence, header.sequence)
        } else if attempt == nil {
            delivered = (header.stream, header.epoch, header.sequence)
        }
    }

    /// Whether a message of this stream and epoch is behind what was delivered: a data message
    /// at or before the last one delivered (the other path brought it), or a mark (heartbeat or
    /// end) from before it. A subscriber that joins a broadcast queue others read subscribes
    /// before it registers, so the queue may bring heartbeats from before the cut, which the
    /// socket has overtaken; delivered, they would count as out of order.
    func wasDelivered(_ header: WireHeader) -> Bool {
        guard let last = delivered, last.stream.isSameStream(as: header.stream), last.epoch == header.epoch else { return false }
        return header.kind == .data ? header.sequence <= last.sequence : header.sequence < last.sequence
    }

    /// Whether the offer of the publisher with `nonce` was tried already.
    func hasSettled(_ nonce: String) -> Bool { settled.contains(nonce) }

    /// Remembers that the offer of the publisher with `nonce` was tried.
    mutating func settle(_ nonce: String) {
        guard !settled.contains(nonce) else { return }
        settled.append(nonce)
        if settled.count > Self.settledCapacity { settled.removeFirst() }
    }
}
