/// An owned, contiguous, C-order N-dimensional array of `Element`.
///
/// ```swift
/// let image = try NDArray<Float>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6])
/// image[1, 2]        // 6.0
/// ```
/// Copies share storage until one of them is mutated (copy-on-write).
public struct NDArray<Element: ArrayElement>: Sendable {
    /// The same array with its element type erased; shares storage.
    public private(set) var erased: AnyNDArray

    /// Wraps an erased array whose dtype the caller has checked.
    init(unchecked erased: AnyNDArray) {
        self.erased = erased
    }

    /// An array of `shape` holding `elements` in C order.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidShape`` if the shape is invalid or does not
    ///   match the number of elements.
    public init(shape: [Int], elements: [Element]) throws(ArrayQueueError) {
        let expected = try Shape.elementCount(shape)
        guard elements.count == expected else {
            throw ArrayQueueError(.invalidShape, "\(elements.count) elements given for shape \(shape), which holds \(expected)")
        }
        try self.init(shape: shape) { (buffer: UnsafeMutableBufferPointer<Element>) throws(Never) in
            _ = buffer.initialize(from: elements)
        }
    }

    /// An array of `shape` with every element set to `value`.
    public init(shape: [Int], repeating value: Element) throws(ArrayQueueError) {
        try self.init(shape: shape) { (buffer: UnsafeMutableBufferPointer<Element>) throws(Never) in
            buffer.initialize(repeating: value)
        }
    }

    /// An array of `shape` whose elements `initialize` writes, all of them, in C order.
    public init<E: Error>(
        shape: [Int], initializingWith initialize: (UnsafeMutableBufferPointer<Element>) throws(E) -> Void
    ) throws(ArrayQueueError) {
        precondition(_isPOD(Element.self), "ArrayElement types must be trivial")
        let erased = try AnyNDArray(dtype: Element.dtype, shape: shape) { (bytes: UnsafeMutableRawBufferPointer) throws(E) in
            try initialize(bytes.bindMemory(to: Element.self))
        }
        self.init(unchecked: erased)
    }

    /// The dtype of `Element`.
    public var dtype: DType { Element.dtype }
    /// Extent of each dimension, outermost first.
    public var shape: [Int] { erased.shape }
    /// Number of elements.
    public var count: Int { erased.count }
    /// The elements in C order, copied into a Swift array.
    public var elements: [Element] { withUnsafeBufferPointer { Array($0) } }

    /// Calls `body` with the elements in C order.
    public func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        let storage = erased.storage
        return try body(UnsafeBufferPointer(start: storage.bytes.assumingMemoryBound(to: Element.self), count: count))
    }

    /// Calls `body` with the elements for writing, copying them first if the storage is shared.
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(_ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        let count = self.count
        return try erased.withUnsafeMutableBytes { (bytes) throws(E) -> R in
            try body(UnsafeMutableBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: Element.self), count: count))
        }
    }

    /// The element at a multi-dimensional index (one integer per dimension).
    public subscript(_ indices: Int...) -> Element {
        get {
            let offset = linearOffset(indices)
            return withUnsafeBufferPointer { $0[offset] }
        }
        set {
            let offset = linearOffset(indices)
            withUnsafeMutableBufferPointer { $0[offset] = newValue }
        }
    }

    private func linearOffset(_ indices: [Int]) -> Int {
        let shape = self.shape
        precondition(indices.count == shape.count, "\(indices.count) indices for an array of \(shape.count) dimensions")
        var offset = 0
        for (index, extent) in zip(indices, shape) {
            precondition(index >= 0 && index < extent, "index \(indices) out of range for shape \(shape)")
            offset = offset * extent + index
        }
        return offset
    }
}

extension NDArray: Equatable {
    /// Arrays are equal when shapes and the bytes of all elements are equal.
    public static func == (lhs: NDArray, rhs: NDArray) -> Bool { lhs.erased == rhs.erased }
}

extension NDArray: CustomStringConvertible {
    public var description: String { "NDArray<\(Element.self)>(shape: \(shape))" }
}
