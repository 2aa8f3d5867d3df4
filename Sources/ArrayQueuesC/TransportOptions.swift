import ArrayQueues
import ArrayTransport
public import CArrayQueuesC
import Logging

// The `aq_sender_options` and `aq_receiver_options` structs: defaults, and their checked
// conversion into the Swift options.

/// Logs of senders and receivers made through C: warnings and errors on standard error (the
/// library never writes to standard output, and never bootstraps the process's logging).
func transportLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}

/// `AQ_TIMEOUT_DEFAULT` (`INT64_MIN`, a macro Swift does not import).
private let timeoutDefault = Int64.min

private func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}

/// The defaults of every field of `aq_sender_options`, with `size` the whole struct's.
private func senderDefaults() -> aq_sender_options {
    let z = ZeroMQSender.Options(), shm = SharedMemorySender.Options()
    return aq_sender_options(
        size: MemoryLayout<aq_sender_options>.size, pattern: Int32(AQ_PATTERN_PUSH_PULL.rawValue), role: Int32(AQ_ROLE_DEFAULT.rawValue),
        fast_path: Int32(AQ_FAST_PATH_AUTOMATIC.rawValue), byte_budget: Int64(z.byteBudget), expected_message_bytes: 0,
        send_timeout_ns: timeoutDefault, heartbeat_interval_ns: z.heartbeatInterval.map(nanoseconds) ?? -1,
        linger_ns: nanoseconds(z.linger), curve_secret_key: nil, curve_server_public_key: nil, shm_capacity: Int64(shm.capacity),
        shm_mode: shm.access.mode, shm_allow_other_owner: shm.access.allowOtherOwner ? 1 : 0, maximum_arrays: Int64(z.maximumArrays),
        maximum_connections: TransportArguments.connectionLimitField(z.maximumConnections))
}

/// The defaults of every field of `aq_receiver_options`, with `size` the whole struct's.
private func receiverDefaults() -> aq_receiver_options {
    let z = ZeroMQReceiver.Options(), access = SharedMemoryAccess()
    return aq_receiver_options(
        size: MemoryLayout<aq_receiver_options>.size, pattern: Int32(AQ_PATTERN_PUSH_PULL.rawValue), role: Int32(AQ_ROLE_DEFAULT.rawValue),
        fast_path: Int32(AQ_FAST_PATH_AUTOMATIC.rawValue), detects_loss: z.detectsLoss ? 1 : 0, subscriptions: nil, subscription_count: 0,
        maximum_message_bytes: Int64(z.maximumMessageBytes), maximum_arrays: Int64(z.maximumArrays), byte_budget: Int64(z.byteBudget),
        expected_message_bytes: 0, heartbeat_interval_ns: nanoseconds(z.heartbeatInterval),
        missed_heartbeats: Int64(z.missedHeartbeatsBeforeSilent), linger_ns: nanoseconds(z.linger), curve_secret_key: nil,
        curve_server_public_key: nil, fast_path_capacity: Int64(z.fastPathCapacity), fast_path_timeout_ns: nanoseconds(z.fastPathTimeout),
        shm_capacity: 256 << 20, shm_mode: access.mode, shm_allow_other_owner: access.allowOtherOwner ? 1 : 0,
        maximum_connections: TransportArguments.connectionLimitField(z.maximumConnections), zero_copy_receive: 0)
}

/// Sizes of version 1 of the option structs: the offset of the first field version 2 added.
let senderOptionsSizeV1 = MemoryLayout<aq_sender_options>.offset(of: \aq_sender_options.shm_mode)!
let receiverOptionsSizeV1 = MemoryLayout<aq_receiver_options>.offset(of: \aq_receiver_options.shm_mode)!

@c(aq_sender_options_init_sized)
public func aqSenderOptionsInitSized(_ options: UnsafeMutablePointer<aq_sender_options>?, _ size: Int) {
    guard let options else { return }
    VersionedStruct.initialize(options, size: size, with: senderDefaults())
}

/// The function programs built against version 1 of the header call (the header's macro of
/// the same name calls `aq_sender_options_init_sized`): their struct ends before `shm_mode`.
@c(aq_sender_options_init)
public func aqSenderOptionsInit(_ options: UnsafeMutablePointer<aq_sender_options>?) {
    aqSenderOptionsInitSized(options, senderOptionsSizeV1)
}

@c(aq_receiver_options_init_sized)
public func aqReceiverOptionsInitSized(_ options: UnsafeMutablePointer<aq_receiver_options>?, _ size: Int) {
    guard let options else { return }
    VersionedStruct.initialize(options, size: size, with: receiverDefaults())
}

/// For programs built against version 1 of the header, as ``aqSenderOptionsInit(_:)``.
@c(aq_receiver_options_init)
public func aqReceiverOptionsInit(_ options: UnsafeMutablePointer<aq_receiver_options>?) {
    aqReceiverOptionsInitSized(options, receiverOptionsSizeV1)
}

/// Conversions shared by both option structs.
enum TransportArguments {
    static func role(_ value: Int32, default fallback: ConnectionRole) throws(TransportError) -> ConnectionRole {
        switch value {
        case Int32(AQ_ROLE_DEFAULT.rawValue): return fallback
        case Int32(AQ_ROLE_BIND.rawValue): return .bind
        case Int32(AQ_ROLE_CONNECT.rawValue): return .connect
        default: throw TransportError(.invalidArgument, "unknown role \(value): expected AQ_ROLE_DEFAULT, AQ_ROLE_BIND or AQ_ROLE_CONNECT")
        }
    }

    static func isPublishSubscribe(_ value: Int32) throws(TransportError) -> Bool {
        switch value {
        case Int32(AQ_PATTERN_PUSH_PULL.rawValue): return false
        case Int32(AQ_PATTERN_PUB_SUB.rawValue): return true
        default: throw TransportError(.invalidArgument, "unknown pattern \(value): expected AQ_PATTERN_PUSH_PULL or AQ_PATTERN_PUB_SUB")
        }
    }

    static func fastPath(_ value: Int32) throws(TransportError) -> FastPath {
        switch value {
        case Int32(AQ_FAST_PATH_AUTOMATIC.rawValue): return .automatic
        case Int32(AQ_FAST_PATH_DISABLED.rawValue): return .disabled
        case Int32(AQ_FAST_PATH_REQUIRED.rawValue): return .required
        default: throw TransportError(.invalidArgument, "unknown fast-path mode \(value): expected AQ_FAST_PATH_AUTOMATIC, _DISABLED or _REQUIRED")
        }
    }

    /// CURVE security from a secret key and, for a client, the server's public key.
    static func curve(secret: UnsafePointer<CChar>?, serverPublic: UnsafePointer<CChar>?) throws(TransportError) -> CurveSecurity? {
        guard let secret else {
            guard serverPublic == nil else {
                throw TransportError(.invalidArgument, "curve_server_public_key is set but curve_secret_key is NULL: a CURVE client needs keys of its own")
            }
            return nil
        }
        let keys = try CurveKeys(secretKey: String(cString: secret))
        guard let serverPublic else { return .server(keys) }
        return .client(keys, serverPublicKey: String(cString: serverPublic))
    }

    /// A non-negative size, or `fallback` for 0 (the "unset" value of optional sizes).
    static func size(_ value: Int64, _ name: String) throws(TransportError) -> Int {
        guard value >= 0, let size = Int(exactly: value) else {
            throw TransportError(.invalidArgument, "\(name) is \(value); it must not be negative")
        }
        return size
    }

    /// `maximum_connections` as Swift's `maximumConnections`: `AQ_NO_CONNECTION_LIMIT` (0) is
    /// nil, no limit, as aq-relay's `max_connections = 0`; a negative value is refused rather
    /// than taken as no limit or as the default.
    static func connectionLimit(_ value: Int64) throws(TransportError) -> Int? {
        guard value >= 0, let limit = Int(exactly: value) else {
            throw TransportError(.invalidArgument, "maximum_connections is \(value); it must be positive, or AQ_NO_CONNECTION_LIMIT (0) for no limit")
        }
        return limit == Int(AQ_NO_CONNECTION_LIMIT) ? nil : limit
    }

    /// Swift's `maximumConnections` as the `maximum_connections` field (the defaults' value).
    static func connectionLimitField(_ limit: Int?) -> Int64 {
        limit.map(Int64.init) ?? Int64(AQ_NO_CONNECTION_LIMIT)
    }

    /// The caller's options struct, read up to its `size` (at least version 1's), with the
    /// fields of later versions it does not have set to their defaults.
    static func read<Struct>(_ pointer: UnsafePointer<Struct>, of type: String, minimum: Int, defaults: Struct) throws(TransportError) -> Struct {
        do throws(ArrayQueueError) {
            return try VersionedStruct.read(pointer, of: type, minimum: minimum, defaults: defaults)
        } catch {
            throw TransportError(.invalidArgument, error.message)
        }
    }
}

/// An `aq_sender_options`, checked.
struct SenderSettings {
    var publishSubscribe = false
    var role = ConnectionRole.bind
    var zeroMQ = ZeroMQSender.Options()
    var sharedMemory = SharedMemorySender.Options()

    init(_ pointer: UnsafePointer<aq_sender_options>?) throws(TransportError) {
        guard let pointer else { return }
        let c = try TransportArguments.read(pointer, of: "aq_sender_options", minimum: senderOptionsSizeV1, defaults: senderDefaults())
        publishSubscribe = try TransportArguments.isPublishSubscribe(c.pattern)
        role = try TransportArguments.role(c.role, default: .bind)
        zeroMQ.fastPath = try TransportArguments.fastPath(c.fast_path)
        zeroMQ.byteBudget = try TransportArguments.size(c.byte_budget, "byte_budget")
        let expected = try TransportArguments.size(c.expected_message_bytes, "expected_message_bytes")
        zeroMQ.expectedMessageBytes = expected == 0 ? nil : expected
        if c.send_timeout_ns != timeoutDefault {
            zeroMQ.sendTimeout = Arguments.duration(c.send_timeout_ns)
            sharedMemory.sendTimeout = Arguments.duration(c.send_timeout_ns)
        }
        // 0 is none, as Python's heartbeat_interval=0 and aq-relay's heartbeat = 0 (it was 1 ms: the
        // engine's floor); the receiver's field, which judges silence, must be positive instead.
        zeroMQ.heartbeatInterval = c.heartbeat_interval_ns <= 0 ? nil : .nanoseconds(c.heartbeat_interval_ns)
        guard c.linger_ns >= 0 else { throw TransportError(.invalidArgument, "linger_ns is \(c.linger_ns); it must not be negative") }
        zeroMQ.linger = .nanoseconds(c.linger_ns)
        zeroMQ.curve = try TransportArguments.curve(secret: c.curve_secret_key, serverPublic: c.curve_server_public_key)
        sharedMemory.capacity = try TransportArguments.size(c.shm_capacity, "shm_capacity")
        sharedMemory.access = SharedMemoryAccess(allowOtherOwner: c.shm_allow_other_owner != 0, mode: c.shm_mode)
        let maximumArrays = try TransportArguments.size(c.maximum_arrays, "maximum_arrays")
        zeroMQ.maximumArrays = maximumArrays
        sharedMemory.maximumArrays = maximumArrays
        zeroMQ.maximumConnections = try TransportArguments.connectionLimit(c.maximum_connections)
    }
}

/// An `aq_receiver_options`, checked.
struct ReceiverSettings {
    var publishSubscribe = false
    var role = ConnectionRole.connect
    var prefixes = [""]
    var zeroMQ = ZeroMQReceiver.Options()
    var sharedMemoryCapacity = 256 << 20
    var sharedMemoryAccess = SharedMemoryAccess()

    init(_ pointer: UnsafePointer<aq_receiver_options>?) throws(TransportError) {
        guard let pointer else { return }
        let c = try TransportArguments.read(pointer, of: "aq_receiver_options", minimum: receiverOptionsSizeV1, defaults: receiverDefaults())
        publishSubscribe = try TransportArguments.isPublishSubscribe(c.pattern)
        role = try TransportArguments.role(c.role, default: .connect)
        zeroMQ.fastPath = try TransportArguments.fastPath(c.fast_path)
        zeroMQ.detectsLoss = c.detects_loss != 0
        // != 0, not > 0: a count past Int.max arrives negative, and must not mean none (every stream).
        if c.subscription_count != 0 {
            let count = Arguments.unsigned(c.subscription_count)
            guard let subscriptions = c.subscriptions else {
                throw TransportError(.invalidArgument, "subscriptions is NULL but subscription_count is \(count)")
            }
            guard count <= 10_000 else {
                throw TransportError(.invalidArgument, "subscription_count \(count) is out of range (at most 10000)")
            }
            prefixes = try (0..<c.subscription_count).map { (slot: Int) throws(TransportError) -> String in
                guard let prefix = subscriptions[slot] else { throw TransportError(.invalidArgument, "subscriptions[\(slot)] is NULL") }
                return String(cString: prefix)
            }
        }
        zeroMQ.maximumMessageBytes = try TransportArguments.size(c.maximum_message_bytes, "maximum_message_bytes")
        zeroMQ.maximumArrays = try TransportArguments.size(c.maximum_arrays, "maximum_arrays")
        zeroMQ.byteBudget = try TransportArguments.size(c.byte_budget, "byte_budget")
        let expected = try TransportArguments.size(c.expected_message_bytes, "expected_message_bytes")
        zeroMQ.expectedMessageBytes = expected == 0 ? nil : expected
        // Checked here for every endpoint: only the ZeroMQ receiver would check them itself.
        guard c.heartbeat_interval_ns > 0, c.missed_heartbeats > 0, c.linger_ns >= 0, c.fast_path_timeout_ns > 0 else {
            throw TransportError(.invalidArgument, "heartbeat_interval_ns, missed_heartbeats and fast_path_timeout_ns must be positive and linger_ns not negative")
        }
        zeroMQ.heartbeatInterval = .nanoseconds(c.heartbeat_interval_ns)
        zeroMQ.missedHeartbeatsBeforeSilent = try TransportArguments.size(c.missed_heartbeats, "missed_heartbeats")
        zeroMQ.linger = .nanoseconds(c.linger_ns)
        zeroMQ.curve = try TransportArguments.curve(secret: c.curve_secret_key, serverPublic: c.curve_server_public_key)
        zeroMQ.fastPathCapacity = try TransportArguments.size(c.fast_path_capacity, "fast_path_capacity")
        zeroMQ.fastPathTimeout = .nanoseconds(c.fast_path_timeout_ns)
        sharedMemoryCapacity = try TransportArguments.size(c.shm_capacity, "shm_capacity")
        sharedMemoryAccess = SharedMemoryAccess(allowOtherOwner: c.shm_allow_other_owner != 0, mode: c.shm_mode)
        zeroMQ.maximumConnections = try TransportArguments.connectionLimit(c.maximum_connections)
        // A context of the receiver's own, which it keeps alive: zero-copy receive is a setting
        // of the whole context, and the shared one's receivers may hear untrusted peers. libzmq
        // starts the context's I/O thread with its first socket, so shm:// (which ignores the
        // field) makes none.
        if c.zero_copy_receive != 0 { zeroMQ.context = try ZMQContext(zeroCopyReceive: true) }
    }
}
