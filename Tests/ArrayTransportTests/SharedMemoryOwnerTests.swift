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

    @Test("with allowOtherOwner a receiver reads another user's queue; a sender creates its queue with the mode asked for")
    func sharedGroupQueue() throws {
        let name = "t-shm-group-\(getpid())-\(UUID().uuidString.prefix(8))"
        let group = SharedMemoryAccess(allowOtherOwner: true, mode: 0o660)
        let sender = try SharedMemorySender(name: name, options: .init(capacity: 1 << 20, access: group))
        defer { try? ArrayQueue.remove(name: name) }
        let array = try NDArray<Float>(shape: [4], elements: [1, 2, 3, 4])
        try sender.send(array, index: 7)
        var status = stat()
        #expect(stat("/dev/shm/aq.\(name)", &status) == 0 && status.st_mode & 0o777 == 0o660)
        #expect(chown("/dev/shm/aq.\(name)", 65534, 65534) == 0)

        let refused = #expect(throws: TransportError.self) { try Endpoint("shm://\(name)").makeReceiver() }
        #expect(refused?.queueError?.code == .untrustedOwner)
        let receiver = try Endpoint("shm://\(name)").makeReceiver(sharedMemory: group)
        defer { receiver.close() }
        let message = try #require(try receiver.receive(timeout: .seconds(10)))
        #expect(message.index == 7 && message.arrays.first?.array == array.erased)
        sender.close()
    }
}
