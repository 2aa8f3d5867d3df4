import ArrayQueues
import CArrayQueuesC

/// Checked conversions of C arguments into Swift values. Every check throws a typed error, so
/// that a bad argument from C becomes an error code, never a trap.
enum Arguments {
    /// The dtype of a C code.
    static func dtype(_ code: Int32) throws(ArrayQueueError) -> DType {
        guard let raw = UInt8(exactly: code), let dtype = DType(rawValue: raw) else {
            throw ArrayQueueError(.unsupportedDType, "unknown dtype code \(code): expected 1 (bool) to 14 (complex128), see aq_dtype")
        }
        return dtype
    }

    /// The shape of `ndim` extents at `shape`; extents are checked with the dtype by `Shape`.
    static func shape(_ ndim: Int32, _ shape: UnsafePointer<Int64>?) throws(ArrayQueueError) -> [Int] {
        guard ndim >= 0, ndim <= Shape.maxDimensions else {
            throw ArrayQueueError(.invalidShape, "ndim \(ndim) is out of range: an array has 0 to \(Shape.maxDimensions) dimensions")
        }
        guard ndim == 0 || shape != nil else {
            throw ArrayQueueError(.invalidArgument, "shape is NULL but ndim is \(ndim)")
        }
        return (0..<Int(ndim)).map { Int(shape![$0]) }
    }

    /// A dtype and shape, checked together; returns the payload size.
    static func array(_ dtypeCode: Int32, _ ndim: Int32, _ extents: UnsafePointer<Int64>?) throws(ArrayQueueError) -> (DType, [Int], Int) {
        let dtype = try dtype(dtypeCode)
        let shape = try shape(ndim, extents)
        return (dtype, shape, try Shape.byteCount(shape, dtype: dtype))
    }

    /// A `size_t` as the caller wrote it, for messages: Swift imports `size_t` as `Int`, so a
    /// value past `Int.max` arrives negative.
    static func unsigned(_ value: Int) -> UInt { UInt(bitPattern: value) }

    /// Why an output struct's `size` field (the caller's `sizeof(type)`) cannot be right, or nil:
    /// it must hold at least the field itself. Fields past `size` are left unwritten (``SizedOutput``).
    static func outputSizeProblem(_ size: Int, _ type: String) -> String? {
        size >= MemoryLayout<Int>.size ? nil : "\(type).size is \(unsigned(size)); set it to sizeof(\(type))"
    }

    /// A NUL-terminated string that must not be NULL.
    static func string(_ text: UnsafePointer<CChar>?, _ what: String) throws(ArrayQueueError) -> String {
        guard let text else { throw ArrayQueueError(.invalidArgument, "\(what) is NULL") }
        return String(cString: text)
    }

    /// How a C timeout waits: negative without limit, 0 not at all, positive that many nanoseconds.
    static func timeout(_ nanoseconds: Int64) -> (timeout: Duration?, blocking: Bool) {
        if nanoseconds < 0 { return (nil, true) }
        if nanoseconds == 0 { return (nil, false) }
        return (.nanoseconds(nanoseconds), true)
    }

    /// A C timeout for calls that always wait (negative: no limit).
    static func duration(_ nanoseconds: Int64) -> Duration? {
        nanoseconds < 0 ? nil : .nanoseconds(nanoseconds)
    }
}

/// Options structs whose first field is their `size`: versions of the header add fields at
/// the end only, so a caller's struct is a prefix of ours. Reading or writing never goes past
/// the caller's `size`, and fields the caller's version lacks keep their defaults.
enum VersionedStruct {
    /// The caller's struct, read up to its `size`, which must be at least `minimum` (the size
    /// of version 1); the fields after it come from `defaults`.
    static func read<Struct>(_ pointer: UnsafePointer<Struct>, of type: String, minimum: Int, defaults: Struct) throws(ArrayQueueError) -> Struct {
        // Every version starts with `size_t size`, so this load stays inside the caller's struct.
        let size = UnsafeRawPointer(pointer).load(as: Int.self)
        guard size >= minimum else {
            throw ArrayQueueError(.invalidArgument, "\(type).size is \(Arguments.unsigned(size)), smaller than any version of the struct (\(minimum)); initialize it with \(type)_init")
        }
        var value = defaults
        withUnsafeMutableBytes(of: &value) { bytes in
            bytes.baseAddress!.copyMemory(from: pointer, byteCount: min(size, MemoryLayout<Struct>.size))
        }
        return value
    }

    /// Writes the first `size` bytes of `defaults` (at most the whole struct) to `pointer`,
    /// with `size` set to what was written; writes nothing if `size` cannot hold the `size` field.
    static func initialize<Struct>(_ pointer: UnsafeMutablePointer<Struct>, size: Int, with defaults: Struct) {
        let written = min(size, MemoryLayout<Struct>.size)
        guard written >= MemoryLayout<Int>.size else { return }
        withUnsafeBytes(of: defaults) { bytes in
            UnsafeMutableRawPointer(pointer).copyMemory(from: bytes.baseAddress!, byteCount: written)
        }
        UnsafeMutableRawPointer(pointer).storeBytes(of: written, as: Int.self)
    }
}

/// Writes the fields of an output struct that fit in the caller's `size`, so that a caller
/// built against an older, shorter struct gets only the fields it knows.
struct SizedOutput<Struct> {
    let base: UnsafeMutableRawPointer
    let limit: Int

    init(_ pointer: UnsafeMutablePointer<Struct>, size: Int) {
        self.base = UnsafeMutableRawPointer(pointer)
        self.limit = min(size, MemoryLayout<Struct>.size)
    }

    func set<Value>(_ field: WritableKeyPath<Struct, Value>, _ value: Value) {
        guard let offset = MemoryLayout<Struct>.offset(of: field), offset + MemoryLayout<Value>.size <= limit else { return }
        base.storeBytes(of: value, toByteOffset: offset, as: Value.self)
    }
}

/// Copies `text` into a caller's buffer of `capacity` bytes, NUL-terminated.
func copyString(_ text: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int, function: String) -> Int32 {
    guard let buffer else { return Status.null("buffer", in: function) }
    guard capacity >= 0 else {
        return Status.fail(AQ_EINVALID_ARGUMENT, "\(function): capacity \(Arguments.unsigned(capacity)) is larger than the address space")
    }
    let bytes = Array(text.utf8)
    guard bytes.count < capacity else {
        return Status.fail(AQ_EBUFFER_TOO_SMALL, "\(function): the text needs \(bytes.count + 1) bytes, the buffer holds \(capacity)")
    }
    bytes.withUnsafeBufferPointer { source in
        UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: bytes.count)
    }
    buffer[bytes.count] = 0
    return AQ_OK
}

/// A retained Swift object behind a C handle.
enum Handle {
    static func make<Object: AnyObject>(_ object: Object) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(object).toOpaque())
    }

    static func get<Object: AnyObject>(_ handle: OpaquePointer, as _: Object.Type = Object.self) -> Object {
        Unmanaged<Object>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Releases the handle's reference; the object goes away unless something else holds it.
    static func free<Object: AnyObject>(_ handle: OpaquePointer, as _: Object.Type) {
        Unmanaged<Object>.fromOpaque(UnsafeRawPointer(handle)).release()
    }
}

/// A C string owned by a Swift object, freed with it.
final class CString {
    let pointer: UnsafeMutablePointer<CChar>

    init(_ text: String) {
        let bytes = Array(text.utf8CString)
        pointer = .allocate(capacity: bytes.count)
        pointer.initialize(from: bytes, count: bytes.count)
    }

    deinit {
        pointer.deallocate()
    }
}
