/// A sender's counters and state at one moment.
public struct SenderStatistics: Sendable, Hashable {
    /// The sender's epoch: random, non-zero, 53 bits, fixed at start.
    public var epoch: UInt64
    /// Data messages handed to the transport.
    public var sent: UInt64
    /// Data messages dropped by flow control (their sequence numbers were used up).
    public var dropped: UInt64
    /// Payload bytes of the data messages sent.
    public var bytesSent: UInt64
    /// Heartbeats sent.
    public var heartbeats: UInt64
    /// Payload bytes handed to the transport that it has not yet released (written to the
    /// network, or dropped). Flow control keeps this within the byte budget.
    public var inFlightBytes: Int
    /// The sequence number the next data message will get.
    public var nextSequence: UInt64
    /// Subscribers on this host that take the messages through shared memory now (the
    /// same-host fast path, ``FastPath``).
    public var sharedMemorySubscribers: Int
    /// Messages that a fast-path subscriber's full queue could not take (that subscriber counts
    /// them as lost).
    public var sharedMemoryDropped: UInt64
    /// Peers connected to the socket now (each has its own share of the byte budget).
    public var peers: Int = 0
    /// Connections that ended: peers that left, and peers dropped for breaking the protocol,
    /// sending a frame over the limit, or taking nothing for ``ZeroMQSender/Options/stalledPeerTimeout``.
    public var peersDisconnected: UInt64 = 0
    /// Subscriptions that were not prefixes of the stream's name (and other messages peers sent
    /// a publisher): none can match the stream's topic.
    public var rejectedSubscriptions: UInt64 = 0
    /// Connections the sender shut down itself: those beyond ``ZeroMQSender/Options/maximumConnections``
    /// on a bound endpoint, and those holding more than 4 KiB of refused subscriptions (each is
    /// also in ``peersDisconnected`` once libzmq has seen it end). They may connect again.
    public var peersDropped: UInt64 = 0
    /// Messages a pusher had put into its same-host shared queue (and counted as sent) that no
    /// puller took: at ``ZeroMQSender/close()``, no puller of this host was attached to read them
    /// and the socket had no room for them within the linger period.
    public var sharedMemoryLost: UInt64 = 0

    /// Counters with the given values; senders make these.
    public init(
        epoch: UInt64, sent: UInt64 = 0, dropped: UInt64 = 0, bytesSent: UInt64 = 0, heartbeats: UInt64 = 0,
        inFlightBytes: Int = 0, nextSequence: UInt64 = 0, sharedMemorySubscribers: Int = 0, sharedMemoryDropped: UInt64 = 0
    ) {
        self.epoch = epoch
        self.sent = sent
        self.dropped = dropped
        self.bytesSent = bytesSent
        self.heartbeats = heartbeats
        self.inFlightBytes = inFlightBytes
        self.nextSequence = nextSequence
        self.sharedMemorySubscribers = sharedMemorySubscribers
        self.sharedMemoryDropped = sharedMemoryDropped
    }

    /// Counters with the given values, the peers' too; senders make these.
    public init(
        epoch: UInt64, sent: UInt64 = 0, dropped: UInt64 = 0, bytesSent: UInt64 = 0, heartbeats: UInt64 = 0,
        inFlightBytes: Int = 0, nextSequence: UInt64 = 0, sharedMemorySubscribers: Int = 0, sharedMemoryDropped: UInt64 = 0,
        peers: Int, peersDisconnected: UInt64, rejectedSubscriptions: UInt64
    ) {
        self.init(
            epoch: epoch, sent: sent, dropped: dropped, bytesSent: bytesSent, heartbeats: heartbeats, inFlightBytes: inFlightBytes,
            nextSequence: nextSequence, sharedMemorySubscribers: sharedMemorySubscribers, sharedMemoryDropped: sharedMemoryDropped)
        self.peers = peers
        self.peersDisconnected = peersDisconnected
        self.rejectedSubscriptions = rejectedSubscriptions
    }
}

/// A receiver's counters and state at one moment.
public struct ReceiverStatistics: Sendable, Hashable {
    /// Data messages delivered.
    public var received: UInt64 = 0
    /// Payload bytes of the data messages delivered.
    public var bytesReceived: UInt64 = 0
    /// Heartbeats received.
    public var heartbeats: UInt64 = 0
    /// End messages received.
    public var ends: UInt64 = 0
    /// Data messages known to be missing: gaps in the sequence numbers of an epoch, including
    /// those a later heartbeat or end reveals. Never hidden, never guessed across epochs.
    public var lost: UInt64 = 0
    /// Messages whose sequence number was lower than that of a data message delivered before
    /// (duplicated or reordered), and heartbeats or ends that announced less than that.
    public var outOfOrder: UInt64 = 0
    /// Messages rejected because they break the wire format; each was skipped.
    public var malformed: UInt64 = 0
    /// Why the most recent malformed message was rejected.
    public var lastMalformedReason: String?
    /// Connections dropped: tcp connections for which libzmq held more than a queue of messages
    /// and one more, or than one message while it held no complete one (a message that does not
    /// end), and connections beyond ``ZeroMQReceiver/Options/maximumConnections`` on a bound
    /// endpoint. They may connect again.
    public var peersDropped: UInt64 = 0
    /// Distinct (stream, epoch) pairs seen: one per sender instance.
    public var epochsSeen: UInt64 = 0
    /// New epochs on a stream that had another one before: a sender restarted (or several
    /// senders share a stream name).
    public var restarts: UInt64 = 0
    /// Large payloads that had to be copied because libzmq delivered them at an address not
    /// aligned for their dtype (all others are adopted without a copy, or are small).
    public var copiedPayloads: UInt64 = 0
    /// Time since the last valid message of any kind arrived (or since the receiver started).
    public var silence: Duration = .zero
    /// Whether ``silence`` exceeds the allowed number of missed heartbeats.
    public var peerIsSilent: Bool = false
    /// How data messages arrive now: through the socket, or through a shared-memory queue
    /// written by a publisher on this host (the same-host fast path, ``FastPath``).
    public var path: TransportPath = .network
    /// Data messages that arrived through shared memory (included in ``received``).
    public var receivedThroughSharedMemory: UInt64 = 0
    /// Times the receiver switched from the network to shared memory.
    public var switchesToSharedMemory: UInt64 = 0
    /// Why the fast path was most recently not taken, or left (nil if it never was).
    public var fastPathProblem: String?

    /// All counters zero; receivers fill them in.
    public init() {}
}
