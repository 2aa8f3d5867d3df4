import ArgumentParser
import ArrayQueues
import ArrayTransport
import Foundation

/// The one error type of `aq-relay`: a complete sentence for the user, and what kind of
/// failure it is (which decides the exit status).
struct RelayError: Error, CustomStringConvertible {
    enum Kind {
        /// A configuration file or command line that cannot be used (exit status 2).
        case configuration
        /// Something failed while running (exit status 1).
        case runtime
    }

    let kind: Kind
    let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func configuration(_ message: String) -> RelayError { RelayError(.configuration, message) }
    static func runtime(_ message: String) -> RelayError { RelayError(.runtime, message) }

    var description: String { message }

    /// The exit status scripts can test: 2 for bad configuration, 1 for anything else.
    var exitCode: ExitCode { kind == .configuration ? ExitCode(2) : ExitCode.failure }
}

/// Runs a command's body, turning any failure into one line on stderr (`aq-relay: …`) and an
/// exit status: 2 for configuration (file, options, endpoints), 1 for other failures.
func reportingErrors<R>(_ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch let error as RelayError {
        printError("aq-relay: \(error.message)")
        throw error.exitCode
    } catch let error as TransportError {
        printError("aq-relay: \(error.description)")
        throw error.code == .invalidEndpoint || error.code == .invalidArgument ? ExitCode(2) : ExitCode.failure
    } catch let error as ArrayQueueError {
        printError("aq-relay: \(error.description)")
        throw error.code == .invalidName || error.code == .invalidArgument ? ExitCode(2) : ExitCode.failure
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("aq-relay: \(error)")
        throw ExitCode.failure
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
