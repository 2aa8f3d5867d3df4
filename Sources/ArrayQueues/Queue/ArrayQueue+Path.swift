extension ArrayQueue {
    /// The file behind the queue `name` (`/dev/shm/aq.NAME` on Linux), for a caller that must
    /// inspect it (owner, size) before it opens the queue.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidName`` for a name that is not valid.
    @_spi(Transport)
    public static func segmentPath(name: String) throws(ArrayQueueError) -> String {
        SegmentName.directory + (try SegmentName.objectName(for: name))
    }
}
