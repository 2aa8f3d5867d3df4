import ArrayQueues
@testable import ArrayTransport
import Foundation
import Glibc
import Testing

/// A `shm://` stream whose queue belongs to another user (issue 12): refused, with a code that
/// says the endpoint cannot be used, not a failed system call.
@Suite("Shared-memory transport: queues of other users", .enabled(if: getuid() == 0, "needs root to give a queue to another user"))
struct SharedMemoryOwnerTests {
    @Test("a receiver or sender on a queue of another user fails with invalidEndpoint, naming the owner")
    func otherOwnersQueueIsAnInvalidEndpoint() throws {
        let name = "t-shm-owner-\(getpid())-\(UUID().uuidString.prefix(8))"
        _ = try ArrayQueue.create(name: name, capacity: 65536)
        defer { try? ArrayQueue.remove(name: name) }
        #expect(chown("/dev/shm/aq.\(name)", 65534, 65534) == 0)

        let receiving = #expect(throws: TransportError.self) { try SharedMemoryReceiver(name: name) }
        #expect(receiving?.code == .invalidEndpoint)
        #expect(receiving?.message.contains("65534") == true)
        let sending = #expect(throws: TransportError.self) { try SharedMemorySender(name: name) }
        #expect(sending?.code == .invalidEndpoint)
    }
}
