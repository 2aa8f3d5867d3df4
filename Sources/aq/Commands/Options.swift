public import ArgumentParser
public import ArrayQueues
import ArrayTransport
import Foundation

/// A byte size on the command line: `64MiB`, `1.5GB`, `4096`.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    let bytes: Int

    init?(argument: String) {
        guard let bytes = ByteCount.parse(argument) else { return nil }
        self.bytes = bytes
    }

    init(bytes: Int) { self.bytes = bytes }

    var description: String { ByteCount.format(bytes) }
    static var defaultCompletionKind: CompletionKind { .default }
}

/// A timeout in seconds; must be a finite, non-negative number.
struct Seconds: ExpressibleByArgument {
    let duration: Duration

    init?(argument: String) {
        guard let value = Double(argument), value.isFinite, value >= 0, value < 1e9 else { return nil }
        duration = .nanoseconds(Int64(value * 1e9))
    }
}

extension OverflowPolicy: ExpressibleByArgument {}
extension ShapeChangePolicy: ExpressibleByArgument {}

/// Runs `body`, turning a library error into one readable line on stderr and an exit code
/// that scripts can test: 3 for a timeout, 4 for a queue that does not exist, 1 otherwise.
func reportingErrors<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as TransportError {
        printError("aq: \(error.description)")
        throw error.code == .timeout ? ExitCode(3) : ExitCode.failure
    } catch let error as ArrayQueueError {
        printError("aq: \(error.description)")
        switch error.code {
        case .timeout: throw ExitCode(3)
        case .notFound: throw ExitCode(4)
        default: throw ExitCode.failure
        }
    }
}

func printError(_ message: String) {
    var standardError = StandardError()
    print(message, to: &standardError)
}

private struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
