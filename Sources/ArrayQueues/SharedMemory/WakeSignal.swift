import CArrayQueuesShims
import Synchronization

/// A futex word with counts of the processes watching it: an event count.
///
/// Four u32s of the header (`data_signal`, `data_watchers`, `data_sleepers`, `data_sleeps`, and
/// the same for `space_*`): the word, the watchers (spinning or sleeping), the sleepers, and a
/// wrapping count of sleeps begun. A waiter reads the word, registers as a watcher, re-checks
/// its condition and only then spins or sleeps while the word is unchanged. A notifier that has
/// made the condition true bumps the word only if someone watches, and calls FUTEX_WAKE only if
/// someone sleeps who may not have been woken yet, so the common case costs one load.
/// Sequentially consistent ordering makes the registration and the notifier's load see each
/// other: no wake-up is lost.
///
/// Why the sleep count: a sleeper stays counted in `sleepers` until it runs again, tens of
/// microseconds on a busy machine, and without it every notify in that window (one per record)
/// made a FUTEX_WAKE system call. A notifier now skips the call when the word was last bumped
/// by a notify that woke (or had no sleeper to wake) and no sleep has begun since just before
/// that bump: a sleeper waiting on the current value read it after that bump, so it began its
/// sleep (counted) after it too.
struct WakeSignal {
    let word: UnsafeMutableRawPointer
    // Located once (a `static let` offset would cost a `swift_once` check per notify).
    private let value: UnsafeMutablePointer<Atomic<UInt32>>
    private let watchers: UnsafeMutablePointer<Atomic<UInt32>>
    private let sleepers: UnsafeMutablePointer<Atomic<UInt32>>
    private let sleeps: UnsafeMutablePointer<Atomic<UInt32>>
    /// This process's knowledge of the last wake-up, shared by the copies of this view.
    private let memo = Memo()

    /// What a notifier of this process knows: every sleeper waiting on a value before
    /// `expected` has been woken (or could not sleep), and any sleeper waiting on `expected`
    /// began its sleep after `sleeps` read `baseline`. Packed in one word (`expected` high).
    private final class Memo: Sendable {
        let word = Atomic<UInt64>(0)
        let isSet = Atomic<Bool>(false)
    }

    init(_ word: UnsafeMutableRawPointer) {
        self.word = word
        value = word.assumingMemoryBound(to: Atomic<UInt32>.self)
        watchers = (word + Self.watchersOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
        sleepers = (word + Self.sleepersOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
        sleeps = (word + Self.sleepsOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Where the counts are, from the word: taken from `data_signal`'s fields in the C header;
    /// `space_signal`'s are laid out the same (LayoutTests checks it).
    static let watchersOffset = offset(\.data_watchers) - offset(\.data_signal)
    static let sleepersOffset = offset(\.data_sleepers) - offset(\.data_signal)
    static let sleepsOffset = offset(\.data_sleeps) - offset(\.data_signal)

    private static func offset(_ field: KeyPath<caq_segment_header, UInt32>) -> Int {
        MemoryLayout<caq_segment_header>.offset(of: field)!
    }

    /// The current value of the word.
    var current: UInt32 { value.pointee.load(ordering: .sequentiallyConsistent) }

    /// Announces that the condition may have changed (after making the change visible).
    /// Inlined: with no watcher (a consumer that keeps up spins without registering), a
    /// notify is this one load, which a call would double.
    @inline(__always)
    func notify() {
        if watchers.pointee.load(ordering: .sequentiallyConsistent) != 0 { notifyWatchers() }
    }

    /// ``notify()`` once a watcher was seen.
    @inline(never)
    private func notifyWatchers() {
        let before = sleeps.pointee.load(ordering: .sequentiallyConsistent)
        let bumped = value.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
        if sleepers.pointee.load(ordering: .sequentiallyConsistent) != 0 {
            // `isSet` first: once it reads true, `word` holds a stored statement, not its initial 0.
            let isKnown = memo.isSet.load(ordering: .acquiring)
            let known = memo.word.load(ordering: .acquiring)
            let unchanged = isKnown && UInt32(truncatingIfNeeded: known >> 32) == bumped
                && UInt32(truncatingIfNeeded: known) == sleeps.pointee.load(ordering: .sequentiallyConsistent)
            if unchanged {
                // No sleeper waits on `bumped`: keep the baseline, move the expectation along.
                remember(expected: bumped &+ 1, baseline: UInt32(truncatingIfNeeded: known))
                return
            }
            Sys.futexWakeAll(word.assumingMemoryBound(to: UInt32.self))
        }
        // Woken, or no one asleep: sleepers on the new value begin their sleep after `before`.
        remember(expected: bumped &+ 1, baseline: before)
    }

    private func remember(expected: UInt32, baseline: UInt32) {
        memo.word.store(UInt64(expected) << 32 | UInt64(baseline), ordering: .releasing)
        memo.isSet.store(true, ordering: .releasing)
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
        // After `seen` was read and before the last check: see the type's comment.
        sleeps.pointee.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if current == seen {
            _ = Sys.futexWait(word.assumingMemoryBound(to: UInt32.self), expected: seen, timeoutNanoseconds: nanoseconds)
        }
        sleepers.pointee.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }
}
