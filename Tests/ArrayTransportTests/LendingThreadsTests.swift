@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// `LendingThreads` under threads entering and leaving at once: the first in takes the slot,
/// the others the set; a nested enter is refused wherever the thread is, and no thread that is
/// not inside is ever refused or reported inside.
@Suite(.timeLimit(.minutes(2)))
struct LendingThreadsTests {
    final class Box: @unchecked Sendable { let threads = LendingThreads() }

    @Test("threads: 6 threads enter, nest, check and leave 20 000 times each; every nested enter is refused, no first enter is, and only threads inside are reported inside")
    func enterLeaveInterleavings() throws {
        let box = Box()
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for thread in 0..<6 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for round in 0..<20_000 {
                    if box.threads.includesCurrentThread {
                        failures.withLock { $0.append("thread \(thread) round \(round): inside before entering") }
                    }
                    do {
                        try box.threads.enter()
                    } catch {
                        failures.withLock { $0.append("thread \(thread) round \(round): refused on its first enter") }
                        continue
                    }
                    if !box.threads.includesCurrentThread {
                        failures.withLock { $0.append("thread \(thread) round \(round): not inside after entering") }
                    }
                    if round % 3 == 0 { sched_yield() }
                    if (try? box.threads.enter()) != nil {
                        failures.withLock { $0.append("thread \(thread) round \(round): nested enter accepted") }
                        box.threads.leave()
                    }
                    box.threads.leave()
                    if box.threads.includesCurrentThread {
                        failures.withLock { $0.append("thread \(thread) round \(round): inside after leaving") }
                    }
                }
            }
        }
        #expect(group.wait(timeout: .now() + 100) == .success)
        let found = failures.withLock { $0 }
        #expect(found.isEmpty, "\(found.prefix(5))")
    }
}
