import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Testing

/// The command-line values both executables share: one parser and one set of bounds each.
@Suite struct ValueTests {
    @Test("ByteSize: units, and never 0 or negative")
    func byteSize() {
        #expect(ByteSize(argument: "64MiB")?.bytes == 64 << 20)
        #expect(ByteSize(argument: "1.5GB")?.bytes == 1_500_000_000)
        #expect(ByteSize(argument: "4096")?.bytes == 4096)
        #expect(ByteSize(argument: "1")?.bytes == 1)
        #expect(ByteSize(argument: "0") == nil)
        #expect(ByteSize(argument: "0MiB") == nil)
        #expect(ByteSize(argument: "-1") == nil)
        #expect(ByteSize(argument: "lots") == nil)
    }

    /// The stats line turns samples (doubles) into integers: `lost` counts what a peer's
    /// forged sequence numbers say, up to 2^64, where `Int(_:)` trapped the relay.
    @Test("Int(saturating:): any sample converts, held within Int's range")
    func saturatingSamples() {
        #expect(Int(saturating: Double(UInt64.max)) == .max)
        #expect(Int(saturating: 0x1p63) == .max)
        #expect(Int(saturating: 0x1p62) == 1 << 62)
        #expect(Int(saturating: -0x1p63) == .min)
        #expect(Int(saturating: -0x1p70) == .min)
        #expect(Int(saturating: .infinity) == .max)
        #expect(Int(saturating: -.infinity) == .min)
        #expect(Int(saturating: .nan) == 0)
        #expect(Int(saturating: 41.9) == 41)
    }

    @Test("Seconds: 0 through 1e9, finite")
    func seconds() {
        #expect(Seconds(argument: "0")?.duration == .zero)
        #expect(Seconds(argument: "0.25")?.duration == .milliseconds(250))
        #expect(Seconds(argument: "1e7")?.duration == .seconds(10_000_000))
        #expect(Seconds(argument: "1e9")?.duration == .seconds(1_000_000_000))
        #expect(Seconds(argument: "1.000001e9") == nil)
        #expect(Seconds(argument: "-0.5") == nil)
        #expect(Seconds(argument: "inf") == nil)
        #expect(Seconds(argument: "nan") == nil)
        #expect(Seconds.maximum == 1e9)
    }

    @Test("Duration.seconds(double:): clamped to 0...1e9 s, NaN held at 0 (it trapped converting NaN to Int64)")
    func durationFromSeconds() {
        #expect(Duration.seconds(double: 0.25) == .milliseconds(250))
        #expect(Duration.seconds(double: -3) == .zero)
        #expect(Duration.seconds(double: .infinity) == .seconds(1_000_000_000))
        #expect(Duration.seconds(double: -.infinity) == .zero)
        #expect(Duration.seconds(double: .nan) == .zero)
    }

    @Test("TimeLimit: seconds or forever")
    func timeLimit() {
        #expect(TimeLimit(argument: "forever")?.duration == nil)
        #expect(TimeLimit(argument: "forever") != nil)
        #expect(TimeLimit(argument: "2")?.duration == .seconds(2))
        #expect(TimeLimit(argument: "never") == nil)
        #expect(TimeLimit(argument: "2e9") == nil)
    }

    @Test("patterns and queue modes parse the same for both tools")
    func patternsAndModes() {
        #expect(StreamPattern(argument: "pubsub") == .pubsub)
        #expect(StreamPattern(argument: "pushpull") == .pushpull)
        #expect(StreamPattern(argument: "fanout") == nil)
        #expect(QueueMode(argument: "660")?.bits == 0o660)
        #expect(QueueMode(argument: "0600")?.bits == 0o600)
        #expect(QueueMode(argument: "440") == nil)
        #expect(QueueMode(argument: "1777") == nil)
        #expect(QueueMode(argument: "rw") == nil)
    }

    @Test("exit statuses: one table for both tools")
    func exitStatuses() {
        #expect(ExitStatus.of(RelayError.configuration("x")) == 2)
        #expect(ExitStatus.of(RelayError.runtime("x")) == 1)
        #expect(ExitStatus.of(ArrayQueueError(.timeout, "x")) == 3)
        #expect(ExitStatus.of(ArrayQueueError(.notFound, "x")) == 4)
        #expect(ExitStatus.of(ArrayQueueError(.invalidName, "x")) == 2)
        #expect(ExitStatus.of(ArrayQueueError(.full, "x")) == 1)
        #expect(ExitStatus.of(TransportError(.invalidEndpoint, "x")) == 2)
        #expect(ExitStatus.of(TransportError(.timeout, "x")) == 3)
        #expect(ExitStatus.of(TransportError(.invalidEndpoint, "x", queueError: ArrayQueueError(.untrustedOwner, "x"))) == 1)
        #expect(ExitStatus.of(TransportError(.invalidEndpoint, "x", queueError: ArrayQueueError(.notFound, "x"))) == 4)
    }
}
