import CArrayQueuesShims
import Synchronization

/// A futex word with counts of the processes watching it: an event count.
///
/// Three u32s of the header (`data_signal`, `data_watchers`, `data_sleepers`, and the same for
/// `space_*`): the word, the watchers (spinning or sleeping), the sleepers. A waiter reads the
/// word, registers as a watcher, re-checks its condition and only then spins or sleeps while the
/// word is unchanged. A notifier that has made the condition true bumps the word only if someone
/// watches, and calls FUTEX_WAKE only if someone sleeps, so the common case costs one load. Sequentially consistent ordering
/// makes the registration and the notifier's load see each other: no wake-up is lost.
struct WakeSignal {
    let word: UnsafeMutableRawPointer
    // Located once (a `static let` offset would cost a `swift_once` check per notify).
    private let value: UnsafeMutablePointer<Atomic<UInt32>>
    private let watchers: UnsafeMutablePointer<Atomic<UInt32>>
    private let sleepers: UnsafeMutablePointer<Atomic<UInt32>>

    init(_ word: UnsafeMutableRawPointer) {
        self.word = word
        value = word.assumingMemoryBound(to: Atomic<UInt32>.self)
        watchers = (word + Self.watchersOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
        sleepers = (word + Self.sleepersOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Where the counts are, from the word: taken from `data_signal`'s fields in the C header;
    /// `space_signal`'s are laid out the same (LayoutTests checks it).
    static let watchersOffset = offset(\.data_watchers) - offset(\.data_signal)
    static let sleepersOffset = offset(\.data_sleepers) - offset(\.data_signal)

    private static func offset(_ field: KeyPath<caq_segment_header, UInt32>) -> Int {
        MemoryLayout<caq_segment_header>.offset(of: field)!
    }


    /// The current value of the word.
    var current: UInt32 { value.pointee.load(ordering: .sequentiallyConsistent) }

    /// Announces that the condition may have changed (after making the change visible).
    func notify() {
        guard watchers.pointee.load(ordering: .sequentiallyConsistent) != 0 else { return }
        value.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.pointee.load(ordering: .sequentiallyConsistent) != 0 {
            Sys.futexWakeAll(word.assumingMemoryBound(to: UInt32.self))
        }
    }

    /// Wakes every sleeper without a change (they re-check and usually sleep again).
    func wakeAll() {
        value.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        Sys.futexWakeAll(word.assumingMemoryBound(to: UInt32.self))
    }

    /// Forgets all watchers and sleepers: only when none can exist (no other live process).
    func resetWatchers() {
        watchers.pointee.store(0, ordering: .sequentiallyConsistent)
        sleepers.pointee.store(0, ordering: .sequentiallyConsistent)
    }

    /// Registers as a watcher; pair with `endWatching()`. Re-check the condition after this.
    func beginWatching() {
        watchers.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    func endWatching() {
        watchers.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    /// Sleeps while the word is still `seen`, at most `nanoseconds` (nil: no limit). Only
    /// for registered watchers.
    func sleep(seen: UInt32, nanoseconds: Int64?) {
        sleepers.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if current == seen {
            _ = Sys.futexWait(word.assumingMemoryBound(to: UInt32.self), expected: seen, timeoutNanoseconds: nanoseconds)
        }
        sleepers.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }
}
