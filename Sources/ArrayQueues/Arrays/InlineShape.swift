/// An array shape stored inline, without a heap allocation: up to ``Shape/maxDimensions``
/// extents, outermost first. What a borrowed record's `extents` gives, so that reading the
/// shape of a record lent by `get { }` allocates nothing; `Array(shape)` makes an ordinary
/// `[Int]` of it.
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
