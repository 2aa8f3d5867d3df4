@testable import ArrayQueues
import CArrayQueuesShims
import Testing

/// The few layout values Swift cannot take from `CArrayQueuesShims.h` directly (enum raw values
/// must be literals; both wake-up signals share one set of offsets) are checked against it here.
struct LayoutTests {
    @Test("every record state has the value of its CAQ_STATE_* constant, and no two states share one")
    func recordStatesMatchTheHeader() {
        let pairs: [(RecordHeader.State, UInt32)] = [
            (.writing, CAQ_STATE_WRITING), (.ready, CAQ_STATE_READY), (.reading, CAQ_STATE_READING),
            (.done, CAQ_STATE_DONE), (.skip, CAQ_STATE_SKIP),
        ]
        for (state, constant) in pairs {
            #expect(state.rawValue == constant, "\(state)")
            #expect(RecordHeader.State(rawValue: constant) == state)
        }
        #expect(Set(pairs.map(\.1)).count == pairs.count)
    }

    @Test("both wake-up signals lay out their watcher and sleeper counts as WakeSignal reads them")
    func wakeSignalOffsetsMatchBothSignals() {
        func offset(_ field: KeyPath<caq_segment_header, UInt32>) -> Int {
            MemoryLayout<caq_segment_header>.offset(of: field)!
        }
        #expect(offset(\.data_watchers) - offset(\.data_signal) == WakeSignal.watchersOffset)
        #expect(offset(\.data_sleepers) - offset(\.data_signal) == WakeSignal.sleepersOffset)
        #expect(offset(\.space_watchers) - offset(\.space_signal) == WakeSignal.watchersOffset)
        #expect(offset(\.space_sleepers) - offset(\.space_signal) == WakeSignal.sleepersOffset)
        #expect(offset(\.data_sleeps) - offset(\.data_signal) == WakeSignal.sleepsOffset)
        #expect(offset(\.space_sleeps) - offset(\.space_signal) == WakeSignal.sleepsOffset)
        #expect(Set([0, WakeSignal.watchersOffset, WakeSignal.sleepersOffset, WakeSignal.sleepsOffset]).count == 4)
    }
}
