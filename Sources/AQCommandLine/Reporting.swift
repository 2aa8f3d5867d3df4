import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Foundation

/// The exit statuses of `aq` and `aq-relay`, one table for both (README, "Exit status").
public enum ExitStatus {
    /// Something failed while running.
    public static let failure: Int32 = 1
    /// A command line, configuration file, name or endpoint that cannot be used.
    public static let usage: Int32 = 2
    /// A bounded wait ended without its record or room (`--timeout`).
    public static let timeout: Int32 = 3
    /// The queue does not exist.
    public static let notFound: Int32 = 4

    /// The status for `error` (1 for errors of unknown types).
    public static func of(_ error: any Error) -> Int32 {
        switch error {
        case let error as RelayError:
            return error.kind == .configuration ? usage : failure
        case let error as TransportError:
            // A queue's error behind an shm:// endpoint keeps its meaning (not found, another
            // user's queue) rather than the endpoint's.
            if let queueError = error.queueError { return of(queueError) }
            switch error.code {
            case .invalidEndpoint, .invalidArgument: return usage
            case .timeout: return timeout
            default: return failure
            }
        case let error as ArrayQueueError:
            switch error.code {
            case .invalidName, .invalidArgument: return usage
            case .timeout: return timeout
            case .notFound: return notFound
            default: return failure
            }
        default:
            return failure
        }
    }
}

/// Runs a command's body, turning any failure into one line on standard error
/// (`tool: message`, unprintable characters escaped) and the exit status of ``ExitStatus``.
public func reportingErrors<R>(_ tool: String, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch {
        throw report(error, tool: tool)
    }
}

/// The `async` form of ``reportingErrors(_:_:)-(_,()->R)``.
public func reportingErrors<R>(_ tool: String, _ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch {
        throw report(error, tool: tool)
    }
}

private func report(_ error: any Error, tool: String) -> any Error {
    if let exit = error as? ExitCode { return exit }
    // ArgumentParser's own errors (validation, clean exits) keep their handling.
    if error is ValidationError || error is CleanExit { return error }
    let message = switch error {
    case let error as RelayError: error.message
    case let error as TransportError: error.description
    case let error as ArrayQueueError: error.description
    default: "\(error)"
    }
    printError("\(tool): \(printable(message))")
    return ExitCode(ExitStatus.of(error))
}

/// Writes one line to standard error.
public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
