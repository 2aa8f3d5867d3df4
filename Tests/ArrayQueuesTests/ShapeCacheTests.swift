@testable import ArrayQueues
import Testing

/// Copying gets share the shape array of consecutive records of one shape (``ShapeCache``).
@Suite("Shape arrays shared by copied records")
struct ShapeCacheTests {
    /// Where an array's elements live: equal for two arrays that share one buffer.
    private func buffer(of shape: [Int]) -> UnsafeRawPointer? {
        shape.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("records of one shape share a shape array; another shape gets its own; each shape is a value")
    func sharedWhileTheShapeStays() throws {
        try withQueue { queue in
            for (number, shape) in [[2, 3], [2, 3], [6], [2, 3]].enumerated() {
                try queue.put(try AnyNDArray(dtype: .int32, shape: shape) { $0.initializeMemory(as: UInt8.self, repeating: UInt8(number)) })
            }
            let first = try queue.get(timeout: .zero)
            let second = try queue.get(timeout: .zero)
            let other = try queue.get(timeout: .zero)
            let fourth = try queue.get(timeout: .zero)
            #expect([first, second, other, fourth].map(\.array.shape) == [[2, 3], [2, 3], [6], [2, 3]])
            #expect(buffer(of: first.array.shape) == buffer(of: second.array.shape))
            #expect(buffer(of: other.array.shape) != buffer(of: first.array.shape))
            #expect(buffer(of: fourth.array.shape) != buffer(of: other.array.shape))
            #expect([first, second, other, fourth].map { $0.array.withUnsafeBytes { Array($0) } }
                == (0..<4).map { Array(repeating: UInt8($0), count: 24) })

            // A caller that changes its copy of a shared shape changes nothing else.
            var changed = first.array.shape
            changed[0] = 99
            #expect(changed == [99, 3] && first.array.shape == [2, 3] && second.array.shape == [2, 3])

            // Batches and broadcast subscribers share them too.
            for _ in 0..<3 { try queue.put(try NDArray<UInt8>(shape: [4, 4], repeating: 1)) }
            let batch = try queue.get(upTo: 3, timeout: .zero)
            #expect(batch.count == 3 && Set(batch.map { buffer(of: $0.array.shape) }).count == 1)
            #expect(batch.allSatisfy { $0.array.shape == [4, 4] })
        }
        try withQueue(creating: CreateOptions(broadcast: true)) { queue in
            let subscriber = try queue.subscribe(policy: .block, start: .next)
            for _ in 0..<2 { try queue.put(try NDArray<UInt8>(shape: [5, 1], repeating: 2)) }
            let records = try (0..<2).map { _ in try subscriber.get(timeout: .zero) }
            #expect(records.allSatisfy { $0.array.shape == [5, 1] })
            #expect(buffer(of: records[0].array.shape) == buffer(of: records[1].array.shape))
        }
    }

    @Test("threads copying from one handle each get the shape of their own record")
    func threadsSharingOneHandle() throws {
        try withQueue { queue in
            // Record n has the extents (n % 3 + 1, n % 5 + 1), and every byte says them too.
            let count = 3000
            let taken = Locked(0)
            let failures = Locked<[String]>([])
            let roles = (0..<4).map { role in
                { @Sendable in
                    do {
                        if role == 0 {
                            for n in 0..<count {
                                let rows = n % 3 + 1, columns = n % 5 + 1
                                _ = try queue.put(dtype: .uint8, shape: [rows, columns], timeout: .seconds(30)) {
                                    $0.initializeMemory(as: UInt8.self, repeating: UInt8(rows * 16 + columns))
                                }
                            }
                            return
                        }
                        while taken.withLock({ $0 }) < count {
                            let records: [ArrayRecord]
                            do {
                                records = try queue.get(upTo: 1, timeout: .milliseconds(20))
                            } catch let error as ArrayQueueError where error.code == .timeout {
                                continue
                            }
                            guard let record = records.first else { continue }
                            taken.withLock { $0 += 1 }
                            let shape = record.array.shape
                            let bytes = record.array.withUnsafeBytes { Array($0) }
                            guard shape.count == 2, bytes.count == shape[0] * shape[1],
                                  bytes.allSatisfy({ Int($0) == shape[0] * 16 + shape[1] }) else {
                                failures.withLock { $0.append("shape \(shape) with bytes \(bytes)") }
                                continue
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("thread \(role): \(error)") }
                    }
                }
            }
            #expect(runOnThreads(roles, seconds: 120))
            #expect(failures.withLock { $0 } == [])
            #expect(taken.withLock { $0 } == count)
        }
    }
}
