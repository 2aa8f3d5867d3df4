/// The one error type of the relay's settings and daemon: a complete sentence for the user,
/// and what kind of failure it is (which decides an executable's exit status).
public struct RelayError: Error, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: Sendable {
        /// A configuration file or command line that cannot be used.
        case configuration
        /// Something failed while running.
        case runtime
    }

    /// What kind of failure.
    public let kind: Kind
    /// One line for the user.
    public let message: String

    /// An error of `kind` saying `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A configuration error.
    public static func configuration(_ message: String) -> RelayError { RelayError(.configuration, message) }
    /// A failure while running.
    public static func runtime(_ message: String) -> RelayError { RelayError(.runtime, message) }

    /// The message.
    public var description: String { message }
}
