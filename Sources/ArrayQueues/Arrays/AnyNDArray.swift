/// An owned, contiguous, C-order N-dimensional array whose element type is known at run time.
///
/// This is the form records come out of a queue in. Use ``typed(as:)`` (or the queue's
/// typed `get(as:)`) to get an ``NDArray`` of a Swift element type. Copies share storage
/// until one of them is mutated (copy-on-write), so passing arrays around is cheap.
public struct AnyNDArray: Sendable {
    /// The element type.
    public let dtype: DType
    /// Extent of each dimension, outermost first; `[]` is a scalar.
    public let shape: [Int]
    /// The bytes, through a Sendable reference (a `ManagedBuffer` is not Sendable; see
    /// ``ArrayStorage`` for why sharing it is safe).
    private var reference: SharedStorage
    var storage: ArrayStorage { reference.storage }

    init(dtype: DType, shape: [Int], storage: ArrayStorage) {
        self.dtype = dtype
        self.shape = shape
        self.reference = SharedStorage(storage: storage)
    }

    /// An array of `dtype` and `shape` whose bytes are written by `initialize`, which must write all of them.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidShape`` for a bad shape, or what `initialize` throws.
    public init<E: Error>(
        dtype: DType, shape: [Int],
        initializingBytesWith initialize: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(ArrayQueueError) {
        let storage = ArrayStorage.make(byteCount: try Shape.byteCount(shape, dtype: dtype))
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: storage.bytes, count: storage.byteCount))
        } catch let error as ArrayQueueError {
            throw error
        } catch {
            throw ArrayQueueError(.invalidArgument, "array initializer failed: \(error)")
        }
        self.init(dtype: dtype, shape: shape, storage: storage)
    }

    /// An array holding a copy of `bytes`, which must be exactly the array's size.
    public init(dtype: DType, shape: [Int], copying bytes: UnsafeRawBufferPointer) throws(ArrayQueueError) {
        let expected = try Shape.byteCount(shape, dtype: dtype)
        guard bytes.count == expected else {
            throw ArrayQueueError(.invalidShape, "\(bytes.count) bytes given for a \(dtype) array of shape \(shape), which needs \(expected)")
        }
        try self.init(dtype: dtype, shape: shape) { (target: UnsafeMutableRawBufferPointer) throws(Never) in
            target.copyMemory(from: bytes)
        }
    }

    /// An array over memory owned elsewhere, without copying it; `release` runs when the last
    /// array using the memory goes away. The memory must not change while any array uses it.
    public init(
        dtype: DType, shape: [Int], adopting bytes: UnsafeMutableRawPointer, byteCount: Int,
        release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) throws(ArrayQueueError) {
        let expected = try Shape.byteCount(shape, dtype: dtype)
        guard byteCount == expected else {
            throw ArrayQueueError(.invalidShape, "\(byteCount) bytes given for a \(dtype) array of shape \(shape), which needs \(expected)")
        }
        self.init(dtype: dtype, shape: shape, storage: ArrayStorage.adopting(bytes, byteCount: byteCount, release: release))
    }

    /// Number of elements: the product of the shape.
    public var count: Int { storage.byteCount / dtype.itemSize }

    /// Number of bytes of the elements.
    public var byteCount: Int { storage.byteCount }

    /// Calls `body` with the array's bytes (C order, little-endian).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(storage.buffer)
    }

    /// Calls `body` with the array's bytes for writing, copying them first if they are shared.
    public mutating func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        if !isKnownUniquelyReferenced(&reference.storage) { reference.storage = storage.copy() }
        return try body(UnsafeMutableRawBufferPointer(start: storage.bytes, count: storage.byteCount))
    }

    /// Becomes an array of `dtype` and `extents` holding a copy of `bytes` (their size),
    /// writing into this array's memory when nothing else uses it and it has that size.
    mutating func replace(dtype: DType, extents: UnsafeBufferPointer<Int>, with bytes: UnsafeRawBufferPointer) {
        let reusable = storage.ownsBytes && storage.byteCount == bytes.count && isKnownUniquelyReferenced(&reference.storage)
        let target = reusable ? storage : ArrayStorage.make(byteCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 { target.bytes.copyMemory(from: source, byteCount: bytes.count) }
        self = AnyNDArray(dtype: dtype, shape: Shape.array(extents, reusing: shape), storage: target)
    }

    /// This array as an ``NDArray`` of `Element`, sharing its storage.
    ///
    /// - Throws: ``ArrayQueueError/Code/dtypeMismatch`` if `Element.dtype` is not ``dtype``.
    public func typed<Element: ArrayElement>(as _: Element.Type = Element.self) throws(ArrayQueueError) -> NDArray<Element> {
        guard Element.dtype == dtype else {
            throw ArrayQueueError(.dtypeMismatch, "the array holds \(dtype) (\(dtype.typestr)), not \(Element.dtype) (\(Element.self))")
        }
        return NDArray(unchecked: self)
    }
}

extension AnyNDArray: Equatable {
    /// Arrays are equal when dtype, shape and every byte are equal (so NaNs with the same bits are equal).
    public static func == (lhs: AnyNDArray, rhs: AnyNDArray) -> Bool {
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape else { return false }
        if lhs.storage === rhs.storage { return true }
        return lhs.storage.buffer.elementsEqual(rhs.storage.buffer)
    }
}

extension AnyNDArray: CustomStringConvertible {
    public var description: String { "AnyNDArray(\(dtype), shape: \(shape))" }
}
