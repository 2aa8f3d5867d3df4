import ArrayQueues

extension FastPathLink {
    /// Takes an offer: checks it, creates the subscriber's queue, opens the publisher's registry
    /// (the first proof of a shared `/dev/shm`) and registers the queue there.
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` saying which step failed; nothing
    ///   is left behind then.
    func start(
        stream: String, epoch: UInt64, bootID: String, registry registryName: String, nonce: String
    ) throws(TransportError) -> Attempt {
        guard nonce.count == 32, nonce.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
              registryName == HostIdentity.registryName(nonce: nonce) else {
            throw TransportError(.fastPathUnavailable, "the publisher's fast path offer is not well formed (registry '\(registryName)', nonce '\(nonce)')")
        }
        guard let ownBootID = HostIdentity.bootID else {
            throw TransportError(.fastPathUnavailable, "this host's boot id (/proc/sys/kernel/random/boot_id) cannot be read")
        }
        guard bootID == ownBootID else {
            throw TransportError(.fastPathUnavailable, "the publisher runs on another host (boot id \(bootID), here \(ownBootID))")
        }
        HostIdentity.removeStaleQueues()
        let queueName = HostIdentity.subscriberPrefix(nonce: nonce) + HostIdentity.randomHex(bits: 64)
        let queue: ArrayQueue
        let registry: ArrayQueue
        do throws(ArrayQueueError) {
            queue = try ArrayQueue.create(name: queueName, capacity: queueCapacity)
        } catch {
            throw TransportError(.fastPathUnavailable, "cannot create the shared-memory queue '\(queueName)' of \(queueCapacity) bytes: \(error.message)")
        }
        do throws(ArrayQueueError) {
            registry = try ArrayQueue.open(name: registryName)
        } catch {
            try? ArrayQueue.remove(name: queueName)
            throw TransportError(.fastPathUnavailable, "cannot open the publisher's registry '\(registryName)', so its /dev/shm is not this process's: \(error.message)")
        }
        let registration = WireHeader.mark(.heartbeat, stream: stream, epoch: epoch, nextSequence: 0, fastPath: .register(queue: queueName))
        do throws(ArrayQueueError) {
            try registry.putEnvelope(registration, arrays: [], timeout: .milliseconds(100))
        } catch {
            try? ArrayQueue.remove(name: queueName)
            throw TransportError(.fastPathUnavailable, "cannot register in the publisher's registry '\(registryName)': \(error.message)")
        }
        return Attempt(
            stream: stream, epoch: epoch, nonce: nonce, queueName: queueName, queue: queue, registry: registry,
            publisherPID: registry.info.creatorPID, deadline: Sys.monotonicNanoseconds() + Self.helloTimeoutNanoseconds)
    }

    /// The publisher's hello, if it is in the queue yet: the first `seq` the queue will bring.
    ///
    /// - Throws: ``TransportError/Code/fastPathUnavailable`` if the first record is anything but
    ///   a hello with the publisher's nonce (the second proof of a shared `/dev/shm`).
    static func readHello(_ attempt: Attempt) throws(TransportError) -> UInt64? {
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
        guard case let .hello(nonce)? = header.fastPath, nonce == attempt.nonce, header.stream == attempt.stream, header.epoch == attempt.epoch else {
            throw TransportError(.fastPathUnavailable, "the first record in the queue '\(attempt.queueName)' is not the hello of the publisher that made the offer")
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

    /// Removes the subscriber's queue of `attempt`, and the publisher's registry too if the
    /// publisher's process is gone (a publisher that died leaves it behind).
    static func discard(_ attempt: Attempt) {
        try? ArrayQueue.remove(name: attempt.queueName)
        if !attempt.registry.isRemoved,
           !attempt.registry.attachments().contains(where: { $0.pid == attempt.publisherPID && $0.isAlive }) {
            try? ArrayQueue.remove(name: attempt.registry.name)
        }
    }
}
