import ArrayQueues
@testable import ArrayTransport
import ArrayQueuesTestSupport
import Foundation
import Glibc
import SystemPackage
import Testing

/// A queue error seen through the transport keeps its meaning: the same code where the modules
/// share one, and always the original error with its C call and errno.
struct TransportErrorTests {
    @Test("every queue error becomes a transport error that keeps it, its C call and its errno; full, not found, corrupt and timeout keep their code",
          arguments: ArrayQueueError.Code.allCases)
    func queueErrorKeepsItsMeaning(_ code: ArrayQueueError.Code) {
        let original = ArrayQueueError(code, "what happened", function: "shm_open", errno: .noSuchFileOrDirectory)
        let error = TransportError(original)
        #expect(error.queueError == original)
        #expect(error.errno == .noSuchFileOrDirectory)
        #expect(error.function == "shm_open")
        #expect(error.message == "what happened")
        let expected: [ArrayQueueError.Code: TransportError.Code] = [
            .full: .full, .notFound: .notFound, .corruptSegment: .corruptQueue, .timeout: .timeout,
            .invalidArgument: .invalidArgument, .cancelled: .closed, .incompatibleVersion: .unsupportedVersion,
        ]
        if let same = expected[code] { #expect(error.code == same) }
        #expect(error.description.contains("shm_open") && error.description.contains("errno \(Errno.noSuchFileOrDirectory.rawValue)"))
    }

    @Test("a shm:// sender on a queue whose header is corrupt fails with corruptQueue, carrying the queue's corruptSegment")
    func corruptQueueThroughASender() throws {
        let name = "t-corrupt-\(getpid())-\(UUID().uuidString.prefix(8))"
        _ = try ArrayQueue.create(name: name, capacity: 65536)
        defer { try? ArrayQueue.remove(name: name) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        try handle.seek(toOffset: UInt64(SegmentLayout.header(\.capacity)))
        handle.write(withUnsafeBytes(of: UInt64(12345).littleEndian) { Data($0) })
        try handle.close()

        let error = #expect(throws: TransportError.self) { try SharedMemorySender(name: name) }
        #expect(error?.code == .corruptQueue)
        #expect(error?.queueError?.code == .corruptSegment)
    }
}
