/// An array shape stored inline, without a heap allocation: up to ``Shape/maxDimensions``
/// extents, outermost first. What a borrowed record carries, so that a `get { }` allocates
/// nothing; `Array(shape)` makes an ordinary `[Int]` of it.
public struct InlineShape: RandomAccessCollection, Sendable, Hashable, CustomStringConvertible {
    /// The number of dimensions.
    public let count: Int
    // 32 is Shape.maxDimensions (a generic argument must be a literal).
    private var extents: InlineArray<32, Int>

    /// The shape of `extents`, which must have at most ``Shape/maxDimensions`` elements.
    public init(_ extents: some Collection<Int>) {
        precondition(extents.count <= Shape.maxDimensions, "a shape has at most \(Shape.maxDimensions) dimensions")
        self.count = extents.count
        self.extents = InlineArray(repeating: 0)
        for (axis, extent) in extents.enumerated() { self.extents[axis] = extent }
    }

    /// The shape whose `count` extents `extent(axis)` returns (`count` ≤ ``Shape/maxDimensions``),
    /// with in `elements` the number of elements of an array of that shape: nil if an extent is
    /// negative or the product overflows, counted as ``Shape/validByteCount(count:dtype:extent:)``
    /// counts them. `extent` is called once per axis, so the count is that of the shape kept
    /// (a consumer checks every claimed record's shape, read from memory another process may
    /// write, against its size). Counted while copying: reading the stored extents back
    /// afterwards copied all 256 bytes of them (a `memcpy` call) per extent.
    @inline(__always)
    init(count: Int, elements: inout Int?, _ extent: (Int) -> Int) {
        self.count = count
        self.extents = InlineArray(repeating: 0)
        var product: Int? = 1
        for axis in 0..<count {
            let value = extent(axis)
            extents[axis] = value
            product = Shape.elements(product, times: value)
        }
        elements = product
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// The extent of dimension `axis` (`0 ..< count`).
    public subscript(axis: Int) -> Int {
        precondition(axis >= 0 && axis < count, "axis \(axis) out of range for a shape of \(count) dimensions")
        return extents[axis]
    }

    public static func == (lhs: InlineShape, rhs: InlineShape) -> Bool {
        lhs.elementsEqual(rhs)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for extent in self { hasher.combine(extent) }
    }

    /// Written like an `[Int]`: `[480, 640]`.
    public var description: String { Array(self).description }
}
