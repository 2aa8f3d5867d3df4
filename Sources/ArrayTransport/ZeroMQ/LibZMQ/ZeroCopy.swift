import ArrayQueues
import Synchronization

/// Payload bytes handed to libzmq without copying that libzmq has not released yet: added when
/// a frame is made, subtracted by libzmq's free callback (on one of its I/O threads) once the
/// bytes are written to the network or the message is dropped.
final class InFlightBytes: Sendable {
    private let bytes = Atomic<Int>(0)

    var current: Int { bytes.load(ordering: .acquiring) }

    func add(_ count: Int) { bytes.wrappingAdd(count, ordering: .relaxed) }

    func subtract(_ count: Int) { bytes.wrappingSubtract(count, ordering: .releasing) }
}

/// Keeps the storage of a zero-copy frame (an array's, or a byte array's) alive while libzmq
/// sends its bytes.
private final class PayloadBox: Sendable {
    let storage: any Sendable
    let byteCount: Int
    let counter: InFlightBytes

    init(storage: any Sendable, byteCount: Int, counter: InFlightBytes) {
        self.storage = storage
        self.byteCount = byteCount
        self.counter = counter
    }
}

/// libzmq's free callback for zero-copy frames. It runs on a libzmq I/O thread, so it does the
/// least it can: an atomic subtraction and the release of one reference (which frees the
/// storage if the application no longer holds it).
private let releasePayload: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    guard let hint else { return }
    let box = Unmanaged<PayloadBox>.fromOpaque(hint).takeRetainedValue()
    box.counter.subtract(box.byteCount)
}

/// Payloads smaller than this are copied into the frame: cheaper than a heap box and a callback.
let zeroCopyThreshold = 4096

extension ZMQMessage {
    /// A payload frame for `array`: its bytes are sent without copying (counted in `inFlight`
    /// until libzmq releases them), unless they are fewer than ``zeroCopyThreshold``.
    init(payload array: AnyNDArray, inFlight: InFlightBytes) throws(TransportError) {
        let count = array.byteCount
        if count < zeroCopyThreshold {
            try self.init(size: count)
            if count > 0, let target = baseAddress {
                array.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: count) }
            }
            return
        }
        // The storage of an `AnyNDArray` is a class instance whose bytes never move and are never
        // written while shared (copy-on-write): the box holds a second reference, so a later
        // mutation by the application copies first, and the bytes stay valid until the box goes.
        let data = array.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        try self.init(lending: data, count: count, keeping: array, inFlight: inFlight)
    }

    /// A frame of `bytes` counted in `inFlight` until libzmq releases it, however small: once
    /// libzmq let go of a message sent last, every connection took what was queued before it or
    /// ended (the sender's `close()` waits for its `end` so).
    init(tracking bytes: [UInt8], inFlight: InFlightBytes) throws(TransportError) {
        // An array's storage never moves while a reference to it is held (the box holds one).
        let data = bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
        guard let data, !bytes.isEmpty else {
            try self.init(size: 0)
            return
        }
        try self.init(lending: data, count: bytes.count, keeping: bytes, inFlight: inFlight)
    }

    /// A frame of the `count` bytes at `data`, which `storage` keeps alive and unchanged until
    /// libzmq releases them; counted in `inFlight` until then.
    private init(lending data: UnsafeMutableRawPointer, count: Int, keeping storage: any Sendable, inFlight: InFlightBytes) throws(TransportError) {
        let hint = Unmanaged.passRetained(PayloadBox(storage: storage, byteCount: count, counter: inFlight)).toOpaque()
        inFlight.add(count)
        do {
            try self.init(borrowing: data, count: count, free: releasePayload, hint: hint)
        } catch {
            Unmanaged<PayloadBox>.fromOpaque(hint).release()
            inFlight.subtract(count)
            throw error
        }
    }
}

/// One received frame, kept on the heap so that a lent message can view its bytes and arrays
/// can adopt them; the frame is closed when the last user goes away.
final class ReceivedFrame {
    let message: ZMQMessage

    init(_ message: consuming ZMQMessage) {
        self.message = message
    }

    var bytes: UnsafeRawBufferPointer { message.bytes }
    var count: Int { message.count }

    /// The frame's bytes as the payload of an array of `dtype` and `shape` (whose size is the
    /// frame's): lent in place when they are aligned for `dtype`, else copied into an array of
    /// the receiver's own. Returns whether a large payload (at least ``zeroCopyThreshold``
    /// bytes) had to be copied.
    func payload(dtype: DType, shape: [Int]) throws(TransportError) -> (payload: LentPayload, copiedLarge: Bool) {
        guard let base = message.baseAddress, count > 0, Int(bitPattern: base) % dtype.alignment != 0 else {
            return (LentPayload(bytes: bytes, keeper: .frame(self)), false)
        }
        do throws(ArrayQueueError) {
            let copy = try AnyNDArray(dtype: dtype, shape: shape, copying: bytes)
            return (LentPayload(bytes: copy.withUnsafeBytes { $0 }, keeper: .array(copy)), count >= zeroCopyThreshold)
        } catch {
            throw TransportError(error)
        }
    }
}

// A received frame is immutable once made; libzmq allows closing a message on any thread, and
// it is closed exactly once, in deinit, when the last array holding the frame is released.
extension ReceivedFrame: @unchecked Sendable {}

extension DType {
    /// The alignment Swift needs for the element type: the item size, or the component size
    /// for complex types.
    var alignment: Int {
        switch self {
        case .complex64: 4
        case .complex128: 8
        default: itemSize
        }
    }
}
