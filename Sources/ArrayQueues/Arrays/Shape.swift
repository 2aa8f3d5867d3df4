/// Shape arithmetic shared by arrays, records and file formats.
public enum Shape {
    /// The most dimensions an array may have (numpy's limit, and the segment layout's).
    public static let maxDimensions = 32

    /// Checks a shape and returns its element count.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidShape`` for more than ``maxDimensions``
    ///   dimensions, a negative extent, or a count that overflows `Int`.
    public static func elementCount(_ shape: [Int]) throws(ArrayQueueError) -> Int {
        guard shape.count <= maxDimensions else {
            throw ArrayQueueError(.invalidShape, "shape \(shape) has \(shape.count) dimensions; at most \(maxDimensions) are supported")
        }
        var count = 1
        for extent in shape {
            guard extent >= 0 else {
                throw ArrayQueueError(.invalidShape, "shape \(shape) has a negative extent")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else {
                throw ArrayQueueError(.invalidShape, "shape \(shape) has more elements than fit in memory")
            }
            count = product
        }
        return count
    }

    /// Checks a shape and returns the byte size of a C-order array of `dtype` with that shape.
    public static func byteCount(_ shape: [Int], dtype: DType) throws(ArrayQueueError) -> Int {
        let (bytes, overflow) = try elementCount(shape).multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else {
            throw ArrayQueueError(.invalidShape, "shape \(shape) of \(dtype) needs more bytes than fit in memory")
        }
        return bytes
    }

    /// `extents` as an `[Int]`: `shape` itself if it has exactly these extents (no allocation:
    /// a handle's last shape, a caller's array being reused), else a new array. A plain loop:
    /// the generic `elementsEqual` walks both through iterators.
    @inline(__always)
    static func array(_ extents: some RandomAccessCollection<Int>, reusing shape: [Int]) -> [Int] {
        guard shape.count == extents.count else { return Array(extents) }
        var index = extents.startIndex
        for extent in shape {
            guard extents[index] == extent else { return Array(extents) }
            index = extents.index(after: index)
        }
        return shape
    }

    /// One step of counting the elements of a shape while it is copied out of a record:
    /// `product` × `extent`, or nil once an extent was negative or the product overflowed (and
    /// from then on), as ``validByteCount(count:dtype:extent:)`` refuses them.
    @inline(__always)
    static func elements(_ product: Int?, times extent: Int) -> Int? {
        guard let product else { return nil }
        let (next, overflow) = product.multipliedReportingOverflow(by: extent)
        return extent < 0 || overflow ? nil : next
    }

    /// ``byteCount(_:dtype:)`` without the error: nil where it throws (more than
    /// ``maxDimensions`` extents aside, which callers check). For the checks on every put and
    /// get, which build an error only once one fails. `extent(axis)` gives the `count` extents.
    @inline(__always)
    static func validByteCount(count: Int, dtype: DType, extent: (Int) -> Int) -> Int? {
        // Elements first, then bytes, as `byteCount` counts them: a shape with a zero extent
        // holds 0 bytes whatever its other extents.
        var elements = 1
        for axis in 0..<count {
            let extent = extent(axis)
            guard extent >= 0 else { return nil }
            let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
            guard !overflow else { return nil }
            elements = product
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.itemSize)
        return overflow ? nil : bytes
    }
}
