@testable import ArrayQueues
import CArrayQueuesShims
import Dispatch
import Glibc
import Synchronization
import Testing

/// The wake-up signal's skipped FUTEX_WAKE (docs/LAYOUT.md, "Waiting and notifying") must never
/// leave a sleeper asleep: each sleep here is bounded by 10 s, and each must end well before.
@Suite("Wake-up signals")
struct WakeSignalTests {
    /// A zeroed header-sized buffer holding one signal, shared with the sleeper thread.
    private struct Words: @unchecked Sendable {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Int(CAQ_HEADER_SIZE), alignment: 64)
        var signal: WakeSignal { WakeSignal(raw + MemoryLayout<caq_segment_header>.offset(of: \.data_signal)!) }
        func count(at offset: Int) -> UInt32 {
            (raw + MemoryLayout<caq_segment_header>.offset(of: \.data_signal)! + offset)
                .assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .sequentiallyConsistent)
        }
    }

    @Test("200 sleeps in a row, each notified once and then again at once (the second may skip the system call): every sleeper is woken by its notify")
    func everySleepIsWoken() throws {
        let words = Words()
        words.raw.initializeMemory(as: UInt8.self, repeating: 0, count: Int(CAQ_HEADER_SIZE))
        defer { words.raw.deallocate() }
        let rounds = 200
        let signal = words.signal
        signal.beginWatching()
        let woken = DispatchSemaphore(value: 0)
        let slept = Atomic<Int>(0)
        DispatchQueue.global().async {
            let sleeper = words.signal
            for _ in 0..<rounds {
                let seen = sleeper.current
                sleeper.sleep(seen: seen, nanoseconds: 10_000_000_000)
                if sleeper.current != seen { slept.add(1, ordering: .relaxed) }
                woken.signal()
            }
        }
        for round in 0..<rounds {
            // Wait (bounded by time, not by spins: on a loaded machine the sleeper's thread may
            // not run for a while) until the sleeper has begun this round's sleep, then notify twice.
            let giveUp = DispatchTime.now() + 10
            while words.count(at: WakeSignal.sleepsOffset) <= UInt32(round) && DispatchTime.now() < giveUp { sched_yield() }
            #expect(words.count(at: WakeSignal.sleepsOffset) > UInt32(round), "round \(round): the sleeper never began to sleep")
            signal.notify()
            signal.notify()
            #expect(woken.wait(timeout: .now() + 5) == .success, "round \(round): a sleeper was not woken")
        }
        #expect(slept.load(ordering: .relaxed) == rounds, "every sleep ended by a change of the word")
        #expect(words.count(at: WakeSignal.sleepersOffset) == 0)
        signal.endWatching()
    }
}
