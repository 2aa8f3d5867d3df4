import Synchronization

/// The `[Int]` shape a handle gave its last copied array, kept so that a stream of arrays of one
/// shape (frames of a camera, blocks of a sensor) shares one shape array instead of allocating
/// one per record: a copying get then makes one allocation, its array's storage.
///
/// Sharing is safe because `[Int]` is a value: an array that is changed is copied first. Threads
/// that copy records of one handle at the same time take turns here for a comparison of at most
/// ``Shape/maxDimensions`` extents.
struct ShapeCache: ~Copyable, Sendable {
    private let last = Mutex<[Int]>([])

    /// `extents` as an `[Int]`: the cached array if it holds the same extents, else a new one,
    /// which is cached in its place.
    func shape(_ extents: some RandomAccessCollection<Int>) -> [Int] {
        last.withLock { cached in
            cached = Shape.array(extents, reusing: cached)
            return cached
        }
    }
}
