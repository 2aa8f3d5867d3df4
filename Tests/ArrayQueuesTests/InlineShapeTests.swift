@testable import ArrayQueues
import Testing

/// A consumer counts a claimed record's elements while it copies the shape out of shared memory
/// (``RecordHeader/copyExtents(into:elements:)``, and ``RecordHeader/extents(elements:)`` through
/// it); the count must be the one ``Shape`` gives for the same extents, or a record whose shape
/// and size disagree would be taken for whole.
@Suite("Shapes counted while they are copied")
struct InlineShapeTests {
    @Test("the count agrees with Shape.validByteCount: empty, zero, negative and overflowing extents", arguments: [
        [], [0], [3, 4], [480, 640, 3], [-1], [2, -3], [0, -1], [0, Int.max, 2], [Int.max, 2], [1 << 32, 1 << 31],
        Array(repeating: 2, count: Shape.maxDimensions),
    ] as [[Int]])
    func countAgrees(_ shape: [Int]) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: RecordHeader.payloadOffset(dimensions: Shape.maxDimensions), alignment: RecordHeader.alignment)
        defer { raw.deallocate() }
        let record = RecordHeader(raw: raw)
        shape.withUnsafeBufferPointer { extents in
            record.writeReserved(
                length: RecordHeader.payloadOffset(dimensions: shape.count), sequence: 0, timestamp: 0, index: nil, dtype: .uint8,
                shape: extents, payloadBytes: 0, flags: 0, owner: .current)
        }
        let expected = Shape.validByteCount(count: shape.count, dtype: .uint8) { shape[$0] }
        var elements: Int?
        let copied = withUnsafeTemporaryAllocation(of: Int.self, capacity: Shape.maxDimensions) { storage in
            Array(record.copyExtents(into: storage, elements: &elements))
        }
        #expect(copied == shape)
        #expect(elements == expected)
        var inlineElements: Int?
        #expect(Array(record.extents(elements: &inlineElements)) == shape)
        #expect(inlineElements == expected)
    }
}
