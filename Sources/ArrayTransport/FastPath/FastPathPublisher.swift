import ArrayQueues
import Logging
import Synchronization

/// A sender's side of the same-host fast path (docs/WIRE.md, "The same-host fast path").
///
/// It owns a small registry queue, `aqfp.<nonce>`, which its heartbeats offer. A receiver on
/// this host puts the name of a small queue of its own there; the registry thread opens that
/// queue, makes the sender's one data queue, `aqfp.<nonce>.shared`, if it is not there yet, and
/// greets the receiver with a hello that names it. The receivers' own queues carry only the
/// handshake and `leave`.
///
/// - A publisher's data queue is a broadcast queue: while a subscriber of this host is attached,
///   every message it sends is put there once, under the sender's lock (so that its order is
///   the socket's), and every local subscriber reads it in place, as a `drop` subscriber: the
///   publisher never waits for one, and one that falls behind skips and sees the gap.
/// - A pusher's data queue is a plain queue: while at least one puller of this host is attached,
///   every message goes into it instead of the socket (``push(header:arrays:timestamp:index:deadline:whileWaiting:)``):
///   the local pullers share its records, and a full queue makes the pusher wait.
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
    /// Whether the sender is a pusher (its data queue is a plain queue, not a broadcast queue).
    let isPush: Bool
    /// The smallest capacity of the data queue, in bytes.
    private let sharedCapacity: Int
    /// The largest message the sender has sent, in bytes: the data queue holds four of them.
    private let largestMessage = Atomic<Int>(0)
    /// The data queue, made at the first registration.
    private let shared = Mutex<ArrayQueue?>(nil)
    /// Set once a pusher gave up its data queue (``retire(reason:)``): no offers, no attaches.
    let retired = Atomic<Bool>(false)
    /// A publisher's data headers for the broadcast queue, written from a template into bytes kept
    /// between messages (used under the sender's lock: never contended).
    private let envelopeHeader: Mutex<(template: DataHeaderTemplate, bytes: [UInt8])>

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

    /// Creates the registry; the data queue, of at least `sharedCapacity` bytes, is made at the
    /// first registration.
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` when the host identity cannot be
    ///   read or the registry cannot be created.
    init(stream: String, epoch: UInt64, serverKey: String?, push: Bool, sharedCapacity: Int, logger: Logger) throws(TransportError) {
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
        self.isPush = push
        self.sharedCapacity = sharedCapacity
        self.nonce = nonce
        self.serverKey = serverKey
        self.registryName = name
        self.stream = stream
        self.epoch = epoch
        self.logger = logger
        self.offer = .offer(bootID: bootID, registry: name, nonce: nonce, serverKey: serverKey)
        self.envelopeHeader = Mutex((DataHeaderTemplate(stream: stream, epoch: epoch), []))
    }

    /// The data queue, once made.
    var sharedQueue: ArrayQueue? { shared.withLock { $0 } }

    /// Notes the size of a message the sender sends (for the data queue's capacity).
    func noteMessage(bytes: Int) {
        if bytes > largestMessage.load(ordering: .relaxed) { largestMessage.store(bytes, ordering: .relaxed) }
    }

    /// Receivers attached now.
    var subscriberTotal: Int { subscriberCount.load(ordering: .relaxed) }
    /// The offer for the heartbeats, or nil once a pusher retired its fast path.
    var currentOffer: FastPathControl? { retired.load(ordering: .relaxed) ? nil : offer }
    /// Messages the data queue could not take at once (a publisher's).
    var drops: UInt64 { dropCount.load(ordering: .relaxed) }

    // MARK: Registry thread

    /// The registry thread's loop, until ``close(nextSequence:)``: takes registrations, opens
    /// the queues they name and hands each to `attach`, which must call
    /// ``attach(_:name:nextSequence:)`` under the sender's lock; drops subscribers that are gone.
    func serve(attach: (ArrayQueue, String) -> Void) {
        while !stopped.load(ordering: .acquiring) {
            if let name = takeRegistration(), let queue = open(name), makeSharedQueue() { attach(queue, name) }
            sweep()
        }
    }

    /// The queue name of the next valid registration, waiting up to ``registryWait``.
    private func takeRegistration() -> String? {
        do {
            return try registry.get(timeout: Self.registryWait) { record throws(TransportError) -> String? in
                guard record.isEnvelope else { return nil }
                let (header, _) = try Envelope.read(record.bytes, maximumArrays: 0)
                guard case let .register(queue)? = header.fastPath, header.stream.isSameStream(as: stream), header.epoch == epoch else { return nil }
                return queue
            }
        } catch let error as ArrayQueueError where error.code == .timeout {
            return nil
        } catch {
            logger.debug("stream '\(stream)': skipped an unreadable fast path registration: \(error)")
            return nil
        }
    }

    /// Makes the data queue unless it is there: a broadcast queue for a publisher, a plain one
    /// for a pusher, holding at least four of the largest messages sent so far. Returns
    /// whether it is there; never once `close` has begun.
    ///
    /// Made under the lock `close` takes to find the queue it removes, and only while not
    /// stopped: a queue made by the registry thread while `close` ran would outlive the sender
    /// in `/dev/shm`, a leak of `fastPathCapacity` bytes that survives the process.
    private func makeSharedQueue() -> Bool {
        shared.withLock { current in
            if current != nil { return true }
            guard !stopped.load(ordering: .acquiring) else { return false }
            let name = HostIdentity.sharedQueueName(nonce: nonce)
            let (four, overflow) = (largestMessage.load(ordering: .relaxed) + 64 << 10).multipliedReportingOverflow(by: 4)
            let capacity = overflow ? ArrayQueue.maximumCapacity : min(ArrayQueue.maximumCapacity, max(sharedCapacity, four))
            do throws(ArrayQueueError) {
                current = try ArrayQueue.create(name: name, capacity: capacity, creating: CreateOptions(broadcast: !isPush))
                return true
            } catch {
                logger.warning("stream '\(stream)': cannot create the fast path's data queue '\(name)' of \(capacity) bytes; receivers on this host stay on the network: \(error.message)")
                return false
            }
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
        guard let sharedQueue else { return false }
        let greeting = FastPathControl.hello(nonce: nonce, serverKey: serverKey, queue: sharedQueue.name)
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
        logger.info("stream '\(stream)': a receiver on this host (pid \(pid)) takes messages from seq \(nextSequence) on through shared memory ('\(sharedQueue.name)')")
        return true
    }

    /// Drops subscribers whose queue was removed or whose process is gone, and removes the
    /// queues of the dead. The registry thread calls it between registrations; a closing pusher
    /// too, to know whether any local puller is left to read its shared queue.
    func sweep() {
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

    /// A publisher's: puts one message or mark into the broadcast queue, once for all local
    /// subscribers, if it has room now (it has, unless a subscriber is still reading the oldest
    /// record: `drop` subscribers are skipped past the rest). A message the queue can never take
    /// (too large, or a broken queue) sends every subscriber a `leave`: they go back to the network.
    ///
    /// Its header is written from a template, as the socket's are (per message only `seq`, `t_ns`,
    /// `index` and `meta`), and copied into the record with the arrays: at 1 KiB the per-message
    /// work, not the copy, is the publisher's cost.
    func deliver(_ arrays: [NamedArray], sequence: UInt64, timestamp: Timestamp, index: Int64?, meta: [String: JSONValue]) {
        guard !isPush, subscriberCount.load(ordering: .relaxed) > 0, let sharedQueue else { return }
        putOnce(into: sharedQueue, sequence: sequence) { () throws(ArrayQueueError) -> Bool in
            try envelopeHeader.withLock { header throws(ArrayQueueError) -> Bool in
                header.template.write(
                    arrays, sequence: sequence, timestampNanoseconds: timestamp.nanosecondsSinceEpoch, index: index, meta: meta,
                    into: &header.bytes)
                return try sharedQueue.tryPutEnvelope(header: header.bytes, arrays: arrays, timestamp: timestamp, index: index)
            }
        }
    }

    /// A publisher's: puts a mark (a heartbeat) into the broadcast queue, as ``deliver(_:sequence:timestamp:index:meta:)``.
    func deliver(mark header: WireHeader) {
        guard !isPush, subscriberCount.load(ordering: .relaxed) > 0, let sharedQueue else { return }
        putOnce(into: sharedQueue, sequence: UInt64(max(0, header.sequence))) { () throws(ArrayQueueError) -> Bool in
            try sharedQueue.tryPutEnvelope(header, arrays: [])
        }
    }

    /// Runs `put`, counting a record the queue had no room for; when the queue cannot take it at
    /// all, sends the subscribers back to the network.
    private func putOnce(into sharedQueue: ArrayQueue, sequence: UInt64, _ put: () throws(ArrayQueueError) -> Bool) {
        do throws(ArrayQueueError) {
            if try !put() { dropCount.add(1, ordering: .relaxed) }
        } catch {
            let leave = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: sequence, fastPath: .leave(reason: error.message))
            for subscriber in detachAll() {
                _ = try? subscriber.queue.tryPutEnvelope(leave, arrays: [])
            }
            logger.warning("stream '\(stream)': the shared queue '\(sharedQueue.name)' cannot take seq \(sequence) (\(error.message)); the subscribers on this host go back to the network")
        }
    }

    /// Puts `end` into the data queue (once for all subscribers, once per puller; waiting a
    /// little for room), stops the registry thread and removes the registry and the data queue's
    /// name (receivers that have it open read what is left); call it under the sender's lock.
    ///
    /// `end` reaches every attached receiver: when the data queue has no room for it within
    /// ``endWait`` (a subscriber still holds the oldest record, or the pullers are behind), it
    /// goes into each receiver's own queue too, which the receiver reads once it has read what
    /// the data queue holds. `end` carries the next `seq`, so a subscriber counts the messages
    /// the broadcast queue could not take at the end as lost, as over tcp.
    func close(nextSequence: UInt64) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let end = WireHeader.mark(.end, stream: stream, epoch: epoch, nextSequence: nextSequence)
        let list = detachAll()
        if let sharedQueue {
            // After the data. A puller takes one and goes back to the network; every subscriber reads the one.
            let deadline = Sys.monotonicNanoseconds() + Self.endWait.clampedNanoseconds
            var ends = 0
            for _ in 0..<(isPush ? list.count : min(1, list.count)) {
                do throws(ArrayQueueError) {
                    try sharedQueue.putEnvelope(end, arrays: [], timeout: .nanoseconds(max(0, deadline - Sys.monotonicNanoseconds())))
                    ends += 1
                } catch {
                    break
                }
            }
            if !list.isEmpty && ends < (isPush ? list.count : 1) { deliverEndToOwnQueues(end, list) }
            try? ArrayQueue.remove(name: sharedQueue.name)
        }
        try? ArrayQueue.remove(name: registryName)
    }

    /// An `end` that the data queue could not take (for every puller), put into each
    /// receiver's own queue (which carries only the hello before it, so it has room). A puller
    /// takes one `end`: from the shared queue, or from its own once the shared queue is empty.
    private func deliverEndToOwnQueues(_ end: WireHeader, _ list: [Subscriber]) {
        for subscriber in list {
            let put = (try? subscriber.queue.tryPutEnvelope(end, arrays: [])) ?? false
            if !put {
                logger.warning("stream '\(stream)': neither the data queue nor the own queue of the receiver on this host (pid \(subscriber.pid)) could take 'end'")
            }
        }
        logger.info("stream '\(stream)': the data queue had no room for 'end'; it went to the \(list.count) receivers' own queues")
    }
}
