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

/// One received frame, kept on the heap so that arrays can adopt its bytes; the frame is
/// closed when the last array using it goes away.
final class ReceivedFrame {
    let message: ZMQMessage

    init(_ message: consuming ZMQMessage) {
        self.message = message
    }

    var bytes: UnsafeRawBufferPointer { message.bytes }
    var count: Int { message.count }

    /// The frame's bytes as an array of `dtype` and `shape`, adopted without copying when
    /// they are at least ``zeroCopyThreshold`` long and aligned for `dtype`, else copied.
    /// Returns whether a large payload had to be copied (because it was misaligned).
    func array(dtype: DType, shape: [Int]) throws(TransportError) -> (array: AnyNDArray, copiedLarge: Bool) {
        let alignment = dtype.alignment
        if count >= zeroCopyThreshold, let base = message.baseAddress, Int(bitPattern: base) % alignment == 0 {
            do throws(ArrayQueueError) {
                let array = try AnyNDArray(dtype: dtype, shape: shape, adopting: base, byteCount: count) { [self] _ in
                    withExtendedLifetime(self) {}
                }
                return (array, false)
            } catch {
                throw TransportError(error)
            }
        }
        do throws(ArrayQueueError) {
            return (try AnyNDArray(dtype: dtype, shape: shape, copying: bytes), count >= zeroCopyThreshold)
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
