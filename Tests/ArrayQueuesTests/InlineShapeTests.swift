@testable import ArrayQueues
import Testing

/// A consumer counts a claimed record's elements while it copies the shape out of shared memory
/// (``InlineShape/init(count:elements:_:)``); the count must be the one ``Shape`` gives for the
/// same extents, or a record whose shape and size disagree would be taken for whole.
@Suite("Shapes counted while they are copied")
struct InlineShapeTests {
    @Test("the count agrees with Shape.validByteCount: empty, zero, negative and overflowing extents", arguments: [
        [], [0], [3, 4], [480, 640, 3], [-1], [2, -3], [0, -1], [0, Int.max, 2], [Int.max, 2], [1 << 32, 1 << 31],
    ] as [[Int]])
    func countAgrees(_ shape: [Int]) {
        var elements: Int?
        let copied = InlineShape(count: shape.count, elements: &elements) { shape[$0] }
        #expect(Array(copied) == shape)
        #expect(elements == Shape.validByteCount(count: shape.count, dtype: .uint8) { shape[$0] })
    }
}
