import ArrayQueues
import Logging
import Synchronization

/// A sender's side of the same-host fast path (docs/WIRE.md, "The same-host fast path").
///
/// It owns a small registry queue, `aqfp.<nonce>`, which its heartbeats offer. A receiver on
/// this host puts the name of a queue of its own there; the registry thread opens that queue
/// and greets it with a hello.
///
/// - A publisher then puts every message it sends into that queue too, under the sender's
///   lock, so that its order is the socket's. A full subscriber queue loses the message (the
///   subscriber sees the gap): the publisher never waits for a subscriber.
/// - A pusher also owns one data queue, `aqfp.<nonce>.shared`, which its hello names. While at
///   least one puller of this host is attached, every message goes into that queue instead of
///   the socket (``push(_:arrays:deadline:isClosing:)``): the local pullers share its records,
///   and a full queue makes the pusher wait. The pullers' own queues carry only the handshake
///   and `leave`.
final class FastPathPublisher: Sendable {
    /// What the heartbeats carry in their `fastpath` key.
    let offer: FastPathControl

    private let nonce: String
    /// The publisher's CURVE public key, if its socket is a CURVE server: in the offer and the hello.
    private let serverKey: String?
    private let registryName: String
    private let registry: ArrayQueue
    let stream: String
    let epoch: UInt64
    let logger: Logger
    private let subscribers = Mutex<[Subscriber]>([])
    private let stopped = Atomic<Bool>(false)
    private let dropCount = Atomic<UInt64>(0)
    private let subscriberCount = Atomic<Int>(0)
    /// A pusher's data queue, which its local pullers share; nil for a publisher.
    let sharedQueue: ArrayQueue?
    /// Set once a pusher gave up its data queue (``retire(reason:)``): no offers, no attaches.
    let retired = Atomic<Bool>(false)

    struct Subscriber {
        let name: String
        let queue: ArrayQueue
        let pid: Int32
    }

    /// Bytes of the registry: registrations are a few hundred bytes, taken at once.
    static let registryCapacity = 64 << 10
    /// How long the registry thread waits for a registration before it looks for subscribers
    /// that are gone.
    static let registryWait: Duration = .milliseconds(250)
    /// How long `end` may wait for room in a subscriber's queue when the publisher closes.
    static let endWait: Duration = .milliseconds(200)

    /// Creates the registry, and a pusher's data queue of `sharedCapacity` bytes (nil for a publisher).
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` when the host identity cannot be
    ///   read or a queue cannot be created.
    init(stream: String, epoch: UInt64, serverKey: String?, sharedCapacity: Int? = nil, logger: Logger) throws(TransportError) {
        guard let bootID = HostIdentity.bootID else {
            throw TransportError(.fastPathUnavailable, "the fast path needs the host's boot id, but /proc/sys/kernel/random/boot_id cannot be read")
        }
        HostIdentity.removeStaleQueues()
        let nonce = HostIdentity.randomHex()
        let name = HostIdentity.registryName(nonce: nonce)
        do throws(ArrayQueueError) {
            registry = try ArrayQueue.create(name: name, capacity: Self.registryCapacity)
        } catch {
            throw TransportError(.fastPathUnavailable, "cannot create the fast path's registry queue '\(name)': \(error.message)")
        }
        if let sharedCapacity {
            let sharedName = HostIdentity.sharedQueueName(nonce: nonce)
            do throws(ArrayQueueError) {
                sharedQueue = try ArrayQueue.create(name: sharedName, capacity: min(ArrayQueue.maximumCapacity, max(ArrayQueue.minimumCapacity, sharedCapacity)))
            } catch {
                try? ArrayQueue.remove(name: name)
                throw TransportError(.fastPathUnavailable, "cannot create the fast path's shared queue '\(sharedName)': \(error.message)")
            }
        } else {
            sharedQueue = nil
        }
        self.nonce = nonce
        self.serverKey = serverKey
        self.registryName = name
        self.stream = stream
        self.epoch = epoch
        self.logger = logger
        self.offer = .offer(bootID: bootID, registry: name, nonce: nonce, serverKey: serverKey)
    }

    /// Subscriber queues being fed now (pullers attached, for a pusher).
    var subscriberTotal: Int { subscriberCount.load(ordering: .relaxed) }
    /// The offer for the heartbeats, or nil once a pusher retired its fast path.
    var currentOffer: FastPathControl? { retired.load(ordering: .relaxed) ? nil : offer }
    /// Messages a full subscriber queue could not take.
    var drops: UInt64 { dropCount.load(ordering: .relaxed) }

    // MARK: Registry thread

    /// The registry thread's loop, until ``close(nextSequence:)``: takes registrations, opens
    /// the queues they name and hands each to `attach`, which must call
    /// ``attach(_:name:nextSequence:)`` under the sender's lock; drops subscribers that are gone.
    func serve(attach: (ArrayQueue, String) -> Void) {
        while !stopped.load(ordering: .acquiring) {
            if let name = takeRegistration(), let queue = open(name) { attach(queue, name) }
            sweep()
        }
    }

    /// The queue name of the next valid registration, waiting up to ``registryWait``.
    private func takeRegistration() -> String? {
        do {
            return try registry.get(timeout: Self.registryWait) { record throws(TransportError) -> String? in
                guard record.isEnvelope else { return nil }
                let (header, _) = try Envelope.read(record.bytes, maximumArrays: 0)
                guard case let .register(queue)? = header.fastPath, header.stream == stream, header.epoch == epoch else { return nil }
                return queue
            }
        } catch let error as ArrayQueueError where error.code == .timeout {
            return nil
        } catch {
            logger.debug("stream '\(stream)': skipped an unreadable fast path registration: \(error)")
            return nil
        }
    }

    /// Opens a subscriber's queue: only names made for this registry's nonce are accepted.
    private func open(_ name: String) -> ArrayQueue? {
        // Only `<prefix><16 hex digits>`: never the registry or a pusher's shared queue.
        let prefix = HostIdentity.subscriberPrefix(nonce: nonce)
        guard name.hasPrefix(prefix), HostIdentity.isRandomHex(name.dropFirst(prefix.count), bits: 64), !retired.load(ordering: .relaxed),
              !subscribers.withLock({ $0.contains { $0.name == name } }) else {
            logger.debug("stream '\(stream)': ignored a fast path registration for queue '\(name)'")
            return nil
        }
        do throws(ArrayQueueError) {
            return try ArrayQueue.open(name: name, options: QueueOptions(overflow: .block, spin: .zero))
        } catch {
            logger.info("stream '\(stream)': cannot open the queue '\(name)' of a subscriber on this host, which stays on the network: \(error.message)")
            return nil
        }
    }

    /// Starts feeding `queue`; call it under the sender's lock. Puts the hello record (the nonce,
    /// and the last `seq` before the first message the queue, or a pusher's shared queue, will
    /// bring). Returns whether it did.
    @discardableResult
    func attach(_ queue: ArrayQueue, name: String, nextSequence: UInt64) -> Bool {
        guard !stopped.load(ordering: .acquiring), !retired.load(ordering: .relaxed) else { return false }
        let greeting = FastPathControl.hello(nonce: nonce, serverKey: serverKey, queue: sharedQueue?.name)
        let hello = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: nextSequence, fastPath: greeting)
        do throws(ArrayQueueError) {
            guard try queue.tryPutEnvelope(hello, arrays: []) else { throw ArrayQueueError(.full, "the queue is full") }
        } catch {
            logger.info("stream '\(stream)': cannot greet the subscriber queue '\(name)': \(error.message)")
            return false
        }
        let pid = queue.info.creatorPID
        let count = subscribers.withLock { list in
            list.append(Subscriber(name: name, queue: queue, pid: pid))
            return list.count
        }
        subscriberCount.store(count, ordering: .relaxed)
        logger.info("stream '\(stream)': a receiver on this host (pid \(pid)) takes messages from seq \(nextSequence) on through shared memory ('\(sharedQueue?.name ?? name)')")
        return true
    }

    /// Drops subscribers whose queue was removed or whose process is gone, and removes the
    /// queues of the dead.
    private func sweep() {
        let snapshot = subscribers.withLock { $0.map { ($0.name, $0.queue, $0.pid) } }
        var gone: [(name: String, reason: String, dead: Bool)] = []
        for (name, queue, pid) in snapshot {
            if queue.isRemoved {
                gone.append((name, "its queue was removed", false))
            } else if !queue.attachments().contains(where: { $0.pid == pid && $0.isAlive }) {
                gone.append((name, "its process (pid \(pid)) is gone", true))
            }
        }
        guard !gone.isEmpty else { return }
        remove { subscriber in gone.contains { $0.name == subscriber.name } }
        for (name, reason, dead) in gone {
            if dead { try? ArrayQueue.remove(name: name) }
            logger.info("stream '\(stream)': stopped feeding the shared-memory queue '\(name)': \(reason)")
        }
    }

    /// Stops feeding every queue; returns the subscribers that were fed.
    func detachAll() -> [Subscriber] {
        let list = subscribers.withLock { list in
            defer { list = [] }
            return list
        }
        subscriberCount.store(0, ordering: .relaxed)
        return list
    }

    private func remove(where condition: (Subscriber) -> Bool) {
        let count = subscribers.withLock { list in
            list.removeAll(where: condition)
            return list.count
        }
        subscriberCount.store(count, ordering: .relaxed)
    }

    // MARK: Feeding (under the sender's lock)

    /// Puts one message or mark into every subscriber queue that has room now. A queue that
    /// can never take it (too small, or broken) gets a `leave` record and is dropped.
    func deliver(_ header: WireHeader, arrays: [AnyNDArray]) {
        guard subscriberCount.load(ordering: .relaxed) > 0 else { return }
        var leaving: [(Subscriber, String)] = []
        subscribers.withLock { list in
            for subscriber in list {
                do throws(ArrayQueueError) {
                    if try !subscriber.queue.tryPutEnvelope(header, arrays: arrays) { dropCount.add(1, ordering: .relaxed) }
                } catch {
                    leaving.append((subscriber, error.message))
                }
            }
        }
        guard !leaving.isEmpty else { return }
        remove { subscriber in leaving.contains { $0.0.name == subscriber.name } }
        for (subscriber, reason) in leaving {
            let leave = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: UInt64(max(0, header.sequence)), fastPath: .leave(reason: reason))
            _ = try? subscriber.queue.tryPutEnvelope(leave, arrays: [])
            logger.warning("stream '\(stream)': the subscriber queue '\(subscriber.name)' cannot take seq \(header.sequence) (\(reason)); that subscriber goes back to the network")
        }
    }

    /// Puts `end` into every subscriber queue (waiting a little for room), stops the registry
    /// thread and removes the registry; call it under the sender's lock.
    func close(nextSequence: UInt64) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let end = WireHeader.mark(.end, stream: stream, epoch: epoch, nextSequence: nextSequence)
        let list = detachAll()
        if let sharedQueue {
            // One `end` for each puller, after the data: each takes one and goes back to the network.
            let deadline = Sys.monotonicNanoseconds() + Self.endWait.clampedNanoseconds
            for _ in list {
                try? sharedQueue.putEnvelope(end, arrays: [], timeout: .nanoseconds(max(0, deadline - Sys.monotonicNanoseconds())))
            }
            // Pullers that have it mapped keep reading what is left.
            try? ArrayQueue.remove(name: sharedQueue.name)
        } else {
            for subscriber in list {
                try? subscriber.queue.putEnvelope(end, arrays: [], timeout: Self.endWait)
            }
        }
        try? ArrayQueue.remove(name: registryName)
    }
}
