import ArrayQueues
import ArrayTransport
public import CArrayQueuesC

/// What an `aq_sender *` points to.
final class SenderHandle {
    let sender: any ArraySender
    /// The bound endpoint with its port resolved, or the endpoint given.
    let endpoint: String

    init(sender: any ArraySender, endpoint: String) {
        self.sender = sender
        self.endpoint = endpoint
    }
}

@c(aq_sender_create)
public func aqSenderCreate(
    _ endpoint: UnsafePointer<CChar>?, _ stream: UnsafePointer<CChar>?, _ options: UnsafePointer<aq_sender_options>?,
    _ sender: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
    guard let sender else { return Status.null("sender", in: "aq_sender_create") }
    sender.pointee = nil
    guard let endpoint else { return Status.null("endpoint", in: "aq_sender_create") }
    guard let stream else { return Status.null("stream", in: "aq_sender_create") }
    do throws(TransportError) {
        let settings = try SenderSettings(options)
        let parsed = try Endpoint(String(cString: endpoint))
        let made: any ArraySender
        var resolved = parsed.description
        switch parsed {
        case let .sharedMemory(name):
            // The pattern means what it means in Swift: publish/subscribe on a broadcast queue.
            var options = settings.sharedMemory
            options.broadcast = settings.publishSubscribe
            made = try SharedMemorySender(name: name, options: options)
        case .tcp, .ipc:
            let zeroMQ = try ZeroMQSender(
                settings.publishSubscribe ? .publish : .push, stream: String(cString: stream),
                bind: settings.role == .bind ? [parsed] : [], connect: settings.role == .connect ? [parsed] : [],
                options: settings.zeroMQ, logger: transportLogger("ArrayQueuesC.sender"))
            if let bound = zeroMQ.boundEndpoints.first { resolved = bound.description }
            made = zeroMQ
        }
        sender.pointee = Handle.make(SenderHandle(sender: made, endpoint: resolved))
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_sender_endpoint)
public func aqSenderEndpoint(_ sender: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int32 {
    guard let sender else { return Status.null("sender", in: "aq_sender_endpoint") }
    return copyString(Handle.get(sender, as: SenderHandle.self).endpoint, to: buffer, capacity: capacity, function: "aq_sender_endpoint")
}

/// The arrays of a message to send, copied into owned arrays (the transport may hold them
/// after `send` returns).
private func namedArrays(_ arrays: UnsafePointer<aq_array>?, _ count: Int) throws(ArrayQueueError) -> [NamedArray] {
    guard count != 0 else { throw ArrayQueueError(.invalidArgument, "a message needs at least one array (count is 0)") }
    guard let arrays else { throw ArrayQueueError(.invalidArgument, "arrays is NULL") }
    guard count > 0, count <= 65_536 else {
        throw ArrayQueueError(.invalidArgument, "count \(Arguments.unsigned(count)) is out of range (at most 65536 arrays)")
    }
    var named: [NamedArray] = []
    named.reserveCapacity(count)
    for slot in 0..<count {
        let c = arrays[slot]
        let (dtype, shape, byteCount) = try Arguments.array(c.dtype, c.ndim, c.shape)
        guard c.nbytes == byteCount else {
            throw ArrayQueueError(.invalidArgument, "arrays[\(slot)].nbytes is \(Arguments.unsigned(c.nbytes)), but a \(dtype) array of shape \(shape) has \(byteCount) bytes")
        }
        guard c.data != nil || byteCount == 0 else { throw ArrayQueueError(.invalidArgument, "arrays[\(slot)].data is NULL") }
        let bytes = UnsafeRawBufferPointer(start: byteCount == 0 ? nil : c.data, count: byteCount)
        let array = try AnyNDArray(dtype: dtype, shape: shape, copying: bytes)
        named.append(NamedArray(c.name.map { String(cString: $0) } ?? NamedArray.defaultName, array))
    }
    return named
}

@c(aq_sender_send)
public func aqSenderSend(
    _ sender: OpaquePointer?, _ arrays: UnsafePointer<aq_array>?, _ count: Int, _ flags: Int32, _ timestamp: Int64, _ index: Int64,
    _ metaJSON: UnsafePointer<CChar>?, _ sequence: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    guard let sender else { return Status.null("sender", in: "aq_sender_send") }
    let handle = Handle.get(sender, as: SenderHandle.self)
    guard flags & ~(AQ_SEND_TIMESTAMP | AQ_SEND_INDEX) == 0 else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "aq_sender_send: unknown flags 0x\(String(flags, radix: 16))")
    }
    let named: [NamedArray]
    do throws(ArrayQueueError) {
        named = try namedArrays(arrays, count)
    } catch {
        return Status.fail(error)
    }
    do throws(TransportError) {
        var meta: [String: JSONValue] = [:]
        if let metaJSON {
            guard case let .object(members) = try JSONValue(parsing: String(cString: metaJSON)) else {
                throw TransportError(.invalidArgument, "meta_json must be a JSON object")
            }
            meta = members
        }
        let outcome = try handle.sender.send(
            named, timestamp: flags & AQ_SEND_TIMESTAMP != 0 ? Timestamp(nanosecondsSinceEpoch: timestamp) : .now(),
            index: flags & AQ_SEND_INDEX != 0 ? index : nil, meta: meta)
        sequence?.pointee = outcome.sequence
        if case .dropped = outcome { return AQ_SEND_DROPPED }
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_sender_statistics_get)
public func aqSenderStatisticsGet(_ sender: OpaquePointer?, _ statistics: UnsafeMutablePointer<aq_sender_statistics>?) -> Int32 {
    guard let sender else { return Status.null("sender", in: "aq_sender_statistics_get") }
    guard let statistics else { return Status.null("statistics", in: "aq_sender_statistics_get") }
    if let problem = Arguments.outputSizeProblem(statistics.pointee.size, "aq_sender_statistics") {
        return Status.fail(AQ_EINVALID_ARGUMENT, problem)
    }
    fill(statistics, with: Handle.get(sender, as: SenderHandle.self).sender.statistics)
    return AQ_OK
}

/// Writes `s` into the caller's struct, up to its `size` (checked by the caller).
private func fill(_ statistics: UnsafeMutablePointer<aq_sender_statistics>, with s: SenderStatistics) {
    let out = SizedOutput(statistics, size: statistics.pointee.size)
    out.set(\.epoch, s.epoch)
    out.set(\.sent, s.sent)
    out.set(\.dropped, s.dropped)
    out.set(\.bytes_sent, s.bytesSent)
    out.set(\.heartbeats, s.heartbeats)
    out.set(\.in_flight_bytes, Int64(s.inFlightBytes))
    out.set(\.next_sequence, s.nextSequence)
    out.set(\.shared_memory_subscribers, Int64(s.sharedMemorySubscribers))
    out.set(\.shared_memory_dropped, s.sharedMemoryDropped)
    out.set(\.peers, Int64(s.peers))
    out.set(\.peers_disconnected, s.peersDisconnected)
    out.set(\.rejected_subscriptions, s.rejectedSubscriptions)
    out.set(\.shared_memory_lost, s.sharedMemoryLost)
    out.set(\.peers_dropped, s.peersDropped)
}

@c(aq_sender_close)
public func aqSenderClose(_ sender: OpaquePointer?) {
    guard let sender else { return }
    Handle.get(sender, as: SenderHandle.self).sender.close()
    Handle.free(sender, as: SenderHandle.self)
}

/// The close that keeps the final counters: `sharedMemoryLost` is counted by the close, after
/// which `aq_sender_statistics_get` has no handle to read. The handle is freed even when
/// `statistics` is unusable, so that every sender is freed by exactly one call.
@c(aq_sender_close_with_statistics)
public func aqSenderCloseWithStatistics(_ sender: OpaquePointer?, _ statistics: UnsafeMutablePointer<aq_sender_statistics>?) -> Int32 {
    guard let sender else { return Status.null("sender", in: "aq_sender_close_with_statistics") }
    let closing = Handle.get(sender, as: SenderHandle.self).sender
    closing.close()
    let final = closing.statistics
    Handle.free(sender, as: SenderHandle.self)
    guard let statistics else { return Status.null("statistics", in: "aq_sender_close_with_statistics") }
    if let problem = Arguments.outputSizeProblem(statistics.pointee.size, "aq_sender_statistics") {
        return Status.fail(AQ_EINVALID_ARGUMENT, problem)
    }
    fill(statistics, with: final)
    return AQ_OK
}

@c(aq_curve_keypair)
public func aqCurveKeypair(_ publicKey: UnsafeMutablePointer<CChar>?, _ secretKey: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let publicKey, let secretKey else { return Status.null("a key buffer", in: "aq_curve_keypair") }
    do throws(TransportError) {
        let keys = try CurveKeys.generate()
        _ = copyString(keys.publicKey, to: publicKey, capacity: Int(AQ_CURVE_KEY_LENGTH) + 1, function: "aq_curve_keypair")
        _ = copyString(keys.secretKey, to: secretKey, capacity: Int(AQ_CURVE_KEY_LENGTH) + 1, function: "aq_curve_keypair")
        return AQ_OK
    } catch {
        return Status.fail(error)
    }
}

@c(aq_curve_public_key)
public func aqCurvePublicKey(_ secretKey: UnsafePointer<CChar>?, _ publicKey: UnsafeMutablePointer<CChar>?) -> Int32 {
    guard let secretKey else { return Status.null("secret_key", in: "aq_curve_public_key") }
    guard let publicKey else { return Status.null("public_key", in: "aq_curve_public_key") }
    do throws(TransportError) {
        let keys = try CurveKeys(secretKey: String(cString: secretKey))
        return copyString(keys.publicKey, to: publicKey, capacity: Int(AQ_CURVE_KEY_LENGTH) + 1, function: "aq_curve_public_key")
    } catch {
        return Status.fail(error)
    }
}
