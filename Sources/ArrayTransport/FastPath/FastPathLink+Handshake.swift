@_spi(Transport) import ArrayQueues

extension FastPathLink {
    /// Takes an offer: checks it, opens and checks the publisher's registry (the first proof of
    /// a shared `/dev/shm`), and only then creates the subscriber's queue and registers it there.
    ///
    /// An offer is anyone's to forge or replay (it may come in plain text, and registry names
    /// are visible in `/dev/shm`), so nothing is created for one whose registry does not exist,
    /// belongs to another user, is not a registry or has no live creator; with CURVE the offer
    /// must name the server this receiver connects to.
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` saying which step failed; nothing
    ///   is left behind then.
    func start(
        stream: String, epoch: UInt64, bootID: String, registry registryName: String, nonce: String, offeredServerKey: String?
    ) throws(TransportError) -> Attempt {
        guard HostIdentity.isRandomHex(Substring(nonce), bits: 128), registryName == HostIdentity.registryName(nonce: nonce) else {
            throw TransportError(.fastPathUnavailable, "the publisher's fast path offer is not well formed (registry '\(registryName.prefix(80))', nonce '\(nonce.prefix(40))')")
        }
        if let serverKey, offeredServerKey != serverKey {
            throw TransportError(.fastPathUnavailable, "the fast path offer does not name the CURVE server this receiver connects to (\(serverKey)), so it was not made by that server")
        }
        guard let ownBootID = HostIdentity.bootID else {
            throw TransportError(.fastPathUnavailable, "this host's boot id (/proc/sys/kernel/random/boot_id) cannot be read")
        }
        guard bootID == ownBootID else {
            throw TransportError(.fastPathUnavailable, "the publisher runs on another host (boot id \(bootID.prefix(40)), here \(ownBootID))")
        }
        let registry = try Self.openRegistry(registryName)
        let publisherPID = registry.info.creatorPID
        // A publisher's broadcast queue that is there already (other subscribers of this host use
        // it): subscribed now, before registering, it keeps every record from the cut on.
        var subscription: BroadcastSubscriber?
        if !pull, ArrayQueue.exists(name: HostIdentity.sharedQueueName(nonce: nonce)) {
            subscription = try? Self.subscribe(HostIdentity.sharedQueueName(nonce: nonce), nonce: nonce, publisherPID: publisherPID, start: .next)
        }
        HostIdentity.removeStaleQueues()
        let queueName = HostIdentity.subscriberPrefix(nonce: nonce) + HostIdentity.randomHex(bits: 64)
        let queue: ArrayQueue
        do throws(ArrayQueueError) {
            queue = try ArrayQueue.create(name: queueName, capacity: Self.ownQueueCapacity)
        } catch {
            subscription?.detach()
            throw TransportError(.fastPathUnavailable, "cannot create the shared-memory queue '\(queueName)': \(error.message)")
        }
        let registration = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: 0, fastPath: .register(queue: queueName))
        do throws(ArrayQueueError) {
            try registry.putEnvelope(registration, arrays: [], timeout: .milliseconds(100))
        } catch {
            try? ArrayQueue.remove(name: queueName)
            subscription?.detach()
            throw TransportError(.fastPathUnavailable, "cannot register in the publisher's registry '\(registryName)': \(error.message)")
        }
        return Attempt(
            stream: stream, epoch: epoch, nonce: nonce, serverKey: serverKey, queueName: queueName, queue: queue, pull: pull,
            subscription: subscription, registry: registry, publisherPID: publisherPID,
            deadline: Sys.monotonicNanoseconds() + Self.helloTimeoutNanoseconds)
    }

    /// Opens the publisher's registry after checking, before opening, that it is a non-empty
    /// regular file of this process's user, and after, that it has a registry's size and its
    /// creator is alive.
    private static func openRegistry(_ name: String) throws(TransportError) -> ArrayQueue {
        let unavailable = { (why: String) in
            TransportError(.fastPathUnavailable, "cannot open the publisher's registry '\(name)': it \(why), so its /dev/shm is not this process's, or the offer is forged")
        }
        let registry = try openOwn(name, unavailable)
        guard registry.info.capacity == FastPathPublisher.registryCapacity else {
            throw unavailable("is not a registry (capacity \(registry.info.capacity) bytes)")
        }
        let creator = registry.info.creatorPID
        guard registry.attachments().contains(where: { $0.pid == creator && $0.isAlive }) else {
            throw unavailable("has no live publisher (its creator, pid \(creator), is gone)")
        }
        return registry
    }

    /// Opens the queue `name` after checking, before opening, that it is a non-empty regular
    /// file of this process's user; `unavailable` makes the error for what is wrong with it.
    private static func openOwn(_ name: String, _ unavailable: (String) -> TransportError) throws(TransportError) -> ArrayQueue {
        guard let path = try? ArrayQueue.segmentPath(name: name), let file = Sys.linkStatus(path) else { throw unavailable("does not exist") }
        guard file.isRegularFile, file.size > 0 else { throw unavailable("is not a finished queue") }
        guard file.owner == Sys.userID else { throw unavailable("belongs to user \(file.owner), not to this process's user \(Sys.userID)") }
        do throws(ArrayQueueError) {
            return try ArrayQueue.open(name: name)
        } catch {
            throw unavailable("fails to open (\(error.message))")
        }
    }

    /// Opens the data queue a sender's hello names: it must have the name made for the sender's
    /// nonce, belong to this user, have been created by the registry's creator, and be a
    /// broadcast queue for a subscriber, a plain one for a puller.
    private static func openShared(_ name: String?, nonce: String, publisherPID: Int32, broadcast: Bool) throws(TransportError) -> ArrayQueue {
        let expected = HostIdentity.sharedQueueName(nonce: nonce)
        let unavailable = { (why: String) in
            TransportError(.fastPathUnavailable, "cannot use the sender's data queue '\(expected)': it \(why)")
        }
        guard name == expected else { throw unavailable("is not the queue the hello names ('\((name ?? "none").prefix(80))')") }
        let shared = try openOwn(expected, unavailable)
        guard shared.info.creatorPID == publisherPID else {
            throw unavailable("was made by pid \(shared.info.creatorPID), not by the sender (pid \(publisherPID))")
        }
        guard shared.isBroadcast == broadcast else { throw unavailable(broadcast ? "is not a broadcast queue" : "is a broadcast queue") }
        return shared
    }

    /// Opens a publisher's broadcast queue (``openShared(_:nonce:publisherPID:broadcast:)``) and
    /// subscribes to it with the `drop` policy: a publisher never waits for a subscriber.
    private static func subscribe(_ name: String?, nonce: String, publisherPID: Int32, start: SubscriberStart) throws(TransportError) -> BroadcastSubscriber {
        let queue = try openShared(name, nonce: nonce, publisherPID: publisherPID, broadcast: true)
        do throws(ArrayQueueError) {
            return try queue.subscribe(policy: .drop, start: start)
        } catch {
            throw TransportError(.fastPathUnavailable, "cannot subscribe to the publisher's broadcast queue '\(queue.name)': \(error.message)")
        }
    }

    /// The sender's hello, if it is in the queue yet: the cut, the first `seq` that the data
    /// queue brings; and the data queue it names, opened (a puller's) or subscribed to (a
    /// subscriber's, unless it subscribed before it registered), into `attempt`.
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` if the first record is anything but
    ///   a hello with the sender's nonce (the second proof of a shared `/dev/shm`), or the data
    ///   queue fails its checks.
    static func readHello(_ attempt: inout Attempt) throws(TransportError) -> UInt64? {
        let header: WireHeader?
        do {
            header = try attempt.queue.tryGet { record throws(TransportError) -> WireHeader in
                guard record.isEnvelope else { throw .malformed("a plain array record") }
                return try Envelope.read(record.bytes, maximumArrays: 0).0
            }
        } catch {
            throw TransportError(.fastPathUnavailable, "the first record in the queue '\(attempt.queueName)' is not the publisher's hello: \(error)")
        }
        guard let header else { return nil }
        guard case let .hello(nonce, serverKey, queue)? = header.fastPath, nonce == attempt.nonce, header.stream.isSameStream(as: attempt.stream), header.epoch == attempt.epoch,
              attempt.serverKey == nil || serverKey == attempt.serverKey, header.sequence >= WireHeader.noSequence else {
            throw TransportError(.fastPathUnavailable, "the first record in the queue '\(attempt.queueName)' is not the hello of the publisher that made the offer")
        }
        if attempt.pull {
            attempt.shared = try openShared(queue, nonce: attempt.nonce, publisherPID: attempt.publisherPID, broadcast: false)
        } else if attempt.subscription == nil {
            // Made at this registration: no other subscriber has read past the cut yet.
            attempt.subscription = try subscribe(queue, nonce: attempt.nonce, publisherPID: attempt.publisherPID, start: .oldest)
        } else if queue != attempt.subscription?.queue.name {
            throw TransportError(.fastPathUnavailable, "the hello names the queue '\((queue ?? "none").prefix(80))', not the publisher's broadcast queue")
        }
        return UInt64(header.sequence + 1)
    }

    /// Why the publisher can no longer feed the queue, or nil while it can: its registry was
    /// removed (it closed) or its process is gone.
    static func publisherGone(_ attempt: Attempt) -> String? {
        if attempt.registry.isRemoved { return "the publisher removed its registry (it closed)" }
        let alive = attempt.registry.attachments().contains { $0.pid == attempt.publisherPID && $0.isAlive }
        return alive ? nil : "the publisher's process (pid \(attempt.publisherPID)) is gone"
    }

    /// Removes the subscriber's queue of `attempt`, and the publisher's registry (and a
    /// pusher's shared queue) too if the publisher's process is gone (one that died leaves
    /// them behind).
    static func discard(_ attempt: Attempt) {
        attempt.subscription?.detach()
        try? ArrayQueue.remove(name: attempt.queueName)
        if !attempt.registry.isRemoved,
           !attempt.registry.attachments().contains(where: { $0.pid == attempt.publisherPID && $0.isAlive }) {
            try? ArrayQueue.remove(name: attempt.registry.name)
            if let shared = attempt.shared ?? attempt.subscription?.queue, !shared.isRemoved { try? ArrayQueue.remove(name: shared.name) }
        }
    }
}
