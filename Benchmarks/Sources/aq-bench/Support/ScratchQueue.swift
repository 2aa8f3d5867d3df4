import ArrayQueues
import Synchronization

/// A queue created for one measurement; its name is removed when this goes away, also when
/// the measurement fails.
final class ScratchQueue {
    let name: String
    let queue: ArrayQueue

    private static let counter = Atomic<Int>(0)

    init(_ tag: String, capacity: Int, creating: CreateOptions = CreateOptions(), options: QueueOptions = QueueOptions()) throws(ArrayQueueError) {
        let serial = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        name = "aq-bench-\(Sys.processID())-\(serial)-\(tag)"
        queue = try ArrayQueue.create(name: name, capacity: capacity, creating: creating, options: options)
    }

    deinit {
        try? ArrayQueue.remove(name: name)
    }

    /// The end-of-stream marker consumers stop at: an empty array.
    static let endMarker = try! AnyNDArray(dtype: .uint8, shape: [0]) { (_: UnsafeMutableRawBufferPointer) throws(Never) in }

    /// The record size and capacity to stream `size`-byte records through one queue: the
    /// capacity holds at least 8 records and 64 MiB. The size is halved while that does not
    /// fit in three quarters of the free space of `/dev/shm`; the note says so.
    static func fit(size: Int) throws(ArrayQueueError) -> (size: Int, capacity: Int, note: String?) {
        let free = Sys.availableBytes(at: "/dev/shm") ?? .max
        let limit = free / 4 * 3
        var fitted = size
        while true {
            let capacity = max(64 << 20, 8 * (try ArrayQueue.recordSize(dtype: .uint8, shape: [fitted])))
            if capacity <= limit {
                let note = fitted == size ? nil
                    : "/dev/shm has \(ByteCount.format(free)) free: \(ByteCount.format(size)) records shrunk to \(ByteCount.format(fitted))"
                return (fitted, capacity, note)
            }
            guard fitted > 1024 else {
                throw ArrayQueueError(.insufficientSharedMemory, "/dev/shm has only \(ByteCount.format(free)) free; a benchmark queue needs \(ByteCount.format(capacity))")
            }
            fitted /= 2
        }
    }
}
