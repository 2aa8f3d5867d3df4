public import ArgumentParser
public import ArrayQueues
public import ArrayRelay
public import ArrayTransport
public import Logging

// Every command-line conformance of `aq` and `aq-relay`, in one place. The values parse and
// bound themselves (ArrayRelay/Settings/Values.swift), so a configuration file and a command
// line accept the same inputs.

extension ByteSize: ExpressibleByArgument {
    /// Sizes complete like any text.
    public static var defaultCompletionKind: CompletionKind { .default }
}

extension Seconds: ExpressibleByArgument {}
extension TimeLimit: ExpressibleByArgument {}
extension StreamPattern: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension OverflowPolicy: ExpressibleByArgument {}
extension ShapeChangePolicy: ExpressibleByArgument {}
extension SubscriberPolicy: ExpressibleByArgument {}
extension SubscriberStart: ExpressibleByArgument {}
extension FastPath: ExpressibleByArgument {}
extension ConnectionRole: ExpressibleByArgument {}

/// Octal permission bits for a shared-memory object a command creates.
public struct QueueMode: Sendable, Hashable, ExpressibleByArgument, CustomStringConvertible {
    /// The bits, at most 0o777, always including the owner's read and write.
    public let bits: UInt32

    /// Bits as given.
    public init(bits: UInt32) { self.bits = bits }

    /// Parses `600`, `0660`; nil for text that is not octal permission bits that let the owner
    /// read and write (see `Values.queueMode`).
    public init?(argument: String) {
        guard let bits = try? Values.queueMode(argument, what: "mode") else { return nil }
        self.bits = bits
    }

    /// `0660`.
    public var description: String { "0" + String(bits, radix: 8) }
}
