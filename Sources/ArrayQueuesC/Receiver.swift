import ArrayQueues
import ArrayTransport
public import CArrayQueuesC

/// What an `aq_receiver *` points to.
final class ReceiverHandle {
    let receiver: any ArrayReceiver
    /// The bound endpoint with its port resolved, or the endpoint given.
    let endpoint: String

    init(_ receiver: any ArrayReceiver, endpoint: String) {
        self.receiver = receiver
        self.endpoint = endpoint
    }
}

@c(aq_receiver_create)
public func aqReceiverCreate(
    _ endpoint: UnsafePointer<CChar>?, _ options: UnsafePointer<aq_receiver_options>?, _ receiver: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_create") }
    receiver.pointee = nil
    guard let endpoint else { return Status.null("endpoint", in: "aq_receiver_create") }
    do throws(TransportError) {
        let settings = try ReceiverSettings(options)
        let parsed = try Endpoint(String(cString: endpoint))
        let made: any ArrayReceiver
        var resolved = parsed.description
        switch parsed {
        case let .sharedMemory(name):
            made = try SharedMemoryReceiver(
                name: name, capacity: settings.sharedMemoryCapacity, maximumArrays: settings.zeroMQ.maximumArrays,
                access: settings.sharedMemoryAccess, subscription: settings.publishSubscribe ? .drop : nil)
        case .tcp, .ipc:
            let zeroMQ = try ZeroMQReceiver(
                settings.publishSubscribe ? .subscribe(prefixes: settings.prefixes) : .pull,
                bind: settings.role == .bind ? [parsed] : [], connect: settings.role == .connect ? [parsed] : [],
                options: settings.zeroMQ, logger: transportLogger("ArrayQueuesC.receiver"))
            if let bound = zeroMQ.boundEndpoints.first { resolved = bound.description }
            made = zeroMQ
        }
        receiver.pointee = Handle.make(ReceiverHandle(made, endpoint: resolved))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_receiver_endpoint)
public func aqReceiverEndpoint(_ receiver: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_endpoint") }
    return copyString(Handle.get(receiver, as: ReceiverHandle.self).endpoint, to: buffer, capacity: capacity, function: "aq_receiver_endpoint")
}

@c(aq_receiver_receive)
public func aqReceiverReceive(
    _ receiver: OpaquePointer?, _ timeoutNanoseconds: Int64, _ flags: Int32, _ message: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let message else { return Status.null("message", in: "aq_receiver_receive") }
    message.pointee = nil
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_receive") }
    guard flags & ~AQ_RECEIVE_EVENTS == 0 else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_receiver_receive: unknown flags 0x\(String(flags, radix: 16))")
    }
    let source = Handle.get(receiver, as: ReceiverHandle.self).receiver
    let timeout: Duration? = timeoutNanoseconds < 0 ? nil : .nanoseconds(timeoutNanoseconds)
    do throws(TransportError) {
        let event: ReceiveEvent?
        if flags & AQ_RECEIVE_EVENTS != 0 {
            event = try source.receiveEvent(timeout: timeout)
        } else {
            event = try source.receive(timeout: timeout).map { .message($0) }
        }
        guard let event else {
            return Status.fail(AQ_ETIMEOUT, "no message arrived within \(timeout.map { "\($0)" } ?? "the wait")")
        }
        message.pointee = Handle.make(MessageHandle(event))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_receiver_receive_lent)
public func aqReceiverReceiveLent(
    _ receiver: OpaquePointer?, _ timeoutNanoseconds: Int64, _ flags: Int32, _ callback: aq_lent_message_fn?, _ context: UnsafeMutableRawPointer?
) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_receive_lent") }
    guard let callback else { return Status.null("callback", in: "aq_receiver_receive_lent") }
    guard flags & ~AQ_RECEIVE_EVENTS == 0 else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_receiver_receive_lent: unknown flags 0x\(String(flags, radix: 16))")
    }
    let source = Handle.get(receiver, as: ReceiverHandle.self).receiver
    let timeout: Duration? = timeoutNanoseconds < 0 ? nil : .nanoseconds(timeoutNanoseconds)
    // The handle lives for the callback only; its pointers are the lent bytes.
    func lend(_ handle: MessageHandle) {
        let message = Handle.make(handle)
        callback(message, context)
        Handle.free(message, as: MessageHandle.self)
    }
    do {
        let lent: Bool
        if flags & AQ_RECEIVE_EVENTS != 0 {
            lent = try source.lendEvent(timeout: timeout) { lend(MessageHandle(lent: $0)) }
        } else {
            lent = try source.receive(timeout: timeout) { lend(MessageHandle(lent: $0)) } != nil
        }
        guard lent else {
            return Status.fail(AQ_ETIMEOUT, "no message arrived within \(timeout.map { "\($0)" } ?? "the wait")")
        }
        return AQ_OK
    } catch let error as TransportError {
        return Status.fail(error)
    } catch {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_receiver_receive_lent: \(error)")
    }
}

@c(aq_receiver_statistics_get)
public func aqReceiverStatisticsGet(_ receiver: OpaquePointer?, _ statistics: UnsafeMutablePointer<aq_receiver_statistics>?) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_statistics_get") }
    guard let statistics else { return Status.null("statistics", in: "aq_receiver_statistics_get") }
    if let problem = Arguments.outputSizeProblem(statistics.pointee.size, "aq_receiver_statistics") {
        return Status.fail(AQ_EINVALID_ARGUMENT, problem)
    }
    let s = Handle.get(receiver, as: ReceiverHandle.self).receiver.statistics
    let out = SizedOutput(statistics, size: statistics.pointee.size)
    out.set(\.received, s.received)
    out.set(\.bytes_received, s.bytesReceived)
    out.set(\.heartbeats, s.heartbeats)
    out.set(\.ends, s.ends)
    out.set(\.lost, s.lost)
    out.set(\.out_of_order, s.outOfOrder)
    out.set(\.malformed, s.malformed)
    out.set(\.epochs_seen, s.epochsSeen)
    out.set(\.restarts, s.restarts)
    out.set(\.copied_payloads, s.copiedPayloads)
    let (seconds, attoseconds) = s.silence.components
    out.set(\.silence_ns, seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000)
    out.set(\.peer_is_silent, s.peerIsSilent ? 1 : 0)
    out.set(\.path, pathCode(s.path))
    out.set(\.received_through_shared_memory, s.receivedThroughSharedMemory)
    out.set(\.switches_to_shared_memory, s.switchesToSharedMemory)
    out.set(\.peers_dropped, s.peersDropped)
    return AQ_OK
}

private func pathCode(_ path: TransportPath) -> Int32 {
    Int32(path == .sharedMemory ? AQ_PATH_SHARED_MEMORY.rawValue : AQ_PATH_NETWORK.rawValue)
}

@c(aq_receiver_path)
public func aqReceiverPath(_ receiver: OpaquePointer?) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_path") }
    return pathCode(Handle.get(receiver, as: ReceiverHandle.self).receiver.statistics.path)
}

@c(aq_receiver_fast_path_problem)
public func aqReceiverFastPathProblem(_ receiver: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_fast_path_problem") }
    let problem = Handle.get(receiver, as: ReceiverHandle.self).receiver.statistics.fastPathProblem ?? ""
    return copyString(problem, to: buffer, capacity: capacity, function: "aq_receiver_fast_path_problem")
}

@c(aq_receiver_last_malformed_reason)
public func aqReceiverLastMalformedReason(_ receiver: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    guard let receiver else { return Status.null("receiver", in: "aq_receiver_last_malformed_reason") }
    let reason = Handle.get(receiver, as: ReceiverHandle.self).receiver.statistics.lastMalformedReason ?? ""
    return copyString(reason, to: buffer, capacity: capacity, function: "aq_receiver_last_malformed_reason")
}

@c(aq_receiver_shutdown)
public func aqReceiverShutdown(_ receiver: OpaquePointer?) {
    guard let receiver else { return }
    Handle.get(receiver, as: ReceiverHandle.self).receiver.close()
}

@c(aq_receiver_close)
public func aqReceiverClose(_ receiver: OpaquePointer?) {
    guard let receiver else { return }
    Handle.get(receiver, as: ReceiverHandle.self).receiver.close()
    Handle.free(receiver, as: ReceiverHandle.self)
}
