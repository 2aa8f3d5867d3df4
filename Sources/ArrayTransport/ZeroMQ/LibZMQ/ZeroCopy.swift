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

/// Keeps an array's storage alive while libzmq sends its bytes.
private final class PayloadBox: Sendable {
    let array: AnyNDArray
    let counter: InFlightBytes

    init(array: AnyNDArray, counter: InFlightBytes) {
        self.array = array
        self.counter = counter
    }
}

/// libzmq's free callback for zero-copy frames. It runs on a libzmq I/O thread, so it does the
/// least it can: an atomic subtraction and the release of one reference (which frees the array's
/// storage if the application no longer holds it).
private let releasePayload: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    guard let hint else { return }
    let box = Unmanaged<PayloadBox>.fromOpaque(hint).takeRetainedValue()
    box.counter.subtract(box.array.byteCount)
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
        let hint = Unmanaged.passRetained(PayloadBox(array: array, counter: inFlight)).toOpaque()
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
