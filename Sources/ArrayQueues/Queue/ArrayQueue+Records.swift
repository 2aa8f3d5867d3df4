import Dispatch

extension ArrayQueue {
    /// The queue's records as an asynchronous sequence, for Swift concurrency:
    ///
    /// ```swift
    /// for try await record in queue.records() { show(record.array) }
    /// ```
    /// Waiting happens on a dedicated thread, never on the cooperative thread pool. The
    /// sequence ends when the task iterating it is cancelled.
    public func records() -> Records {
        Records(queue: self)
    }

    /// An endless asynchronous sequence of the records taken from a queue.
    public struct Records: AsyncSequence, Sendable {
        public typealias Element = ArrayRecord
        let queue: ArrayQueue

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(queue: queue)
        }

        /// Takes one record per `next()`; returns nil once the task is cancelled.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let queue: ArrayQueue
            /// One thread per iterator does the blocking waits.
            private let waiter = DispatchQueue(label: "ArrayQueues.Records")

            init(queue: ArrayQueue) {
                self.queue = queue
            }

            public mutating func next() async throws -> ArrayRecord? {
                let queue = self.queue
                let waiter = self.waiter
                let cancellation = Cancellation()
                do {
                    return try await withTaskCancellationHandler {
                        try await withCheckedThrowingContinuation { continuation in
                            waiter.async {
                                continuation.resume(with: Result { () throws(ArrayQueueError) in
                                    try queue.takeCopy(expecting: nil, blocking: true, timeout: nil, cancellation: cancellation)!
                                })
                            }
                        }
                    } onCancel: {
                        cancellation.cancel()
                        queue.wakeConsumers()
                    }
                } catch let error as ArrayQueueError where error.code == .cancelled {
                    return nil
                }
            }
        }
    }
}
