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

/// Where `aq get` and `aq recv` put what they take: printed, one .npy file, or a directory of them.
struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: "Save the record to this .npy file (with --count 1).")
    var output: String?

    @Option(help: "Save each record to DIR/<sequence>.npy (DIR/<sequence>-<name>.npy for several arrays, with '/' and unprintable characters of the name escaped).")
    var outDir: String?

    @Option(help: "How many records to take.")
    var count: Int = 1

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard output == nil || outDir == nil else { throw ValidationError("give either -o or --out-dir, not both") }
        guard output == nil || count == 1 else { throw ValidationError("-o saves one record; use --out-dir with --count \(count)") }
    }

    /// Creates the output directory, if one was given.
    func prepare() throws {
        if let outDir { try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true) }
    }

    /// Saves the named arrays of record `sequence`; returns false when nothing is to be saved
    /// (the caller prints instead).
    func save(_ arrays: [(name: String, array: AnyNDArray)], sequence: UInt64) throws -> Bool {
        if let output, let first = arrays.first {
            try NPY.write(first.array, to: output)
        } else if let outDir {
            for (name, array) in arrays {
                // Names come from the sender (the network): one file name, in DIR, printable.
                let suffix = arrays.count == 1 ? "" : "-" + printable(name).replacingOccurrences(of: "/", with: "\\x2f")
                try NPY.write(array, to: "\(outDir)/\(String(format: "%010llu", sequence))\(suffix).npy")
            }
        } else {
            return false
        }
        return true
    }
}

/// Whether to open queues owned by another user (refused by default: anyone can create a name in
/// `/dev/shm` first).
struct OwnerOptions: ParsableArguments {
    @Flag(help: "Open queues whose shared-memory object belongs to another user (for queues shared by a group on purpose). By default such a queue is refused: any local user can create a queue's name first.")
    var allowOtherOwner = false

    /// Queue options with this choice.
    func queueOptions(_ options: QueueOptions = QueueOptions()) -> QueueOptions {
        var options = options
        options.allowOtherOwner = allowOtherOwner
        return options
    }
}

/// The permission bits of a queue the command creates.
struct ModeOptions: ParsableArguments {
    @Option(help: "Octal permission bits of a shared-memory object this command creates (660 lets the owner's group in).")
    var mode: String = "600"

    /// The bits, or a usage error for text that is not octal permission bits.
    func bits() throws -> UInt32 {
        guard let bits = UInt32(mode, radix: 8), bits <= 0o777 else { throw ValidationError("--mode must be octal permission bits, like 600 or 660") }
        return bits
    }
}

extension OwnerOptions {
    /// Access to `shm://` queues with this choice and the mode `creating`.
    func access(creating mode: ModeOptions) throws -> SharedMemoryAccess {
        SharedMemoryAccess(allowOtherOwner: allowOtherOwner, mode: try mode.bits())
    }
}

extension OverflowPolicy: ExpressibleByArgument {}
extension ShapeChangePolicy: ExpressibleByArgument {}
extension SubscriberPolicy: ExpressibleByArgument {}
extension SubscriberStart: ExpressibleByArgument {}

/// Runs `body`, turning a library error into one readable line on stderr and an exit code
/// that scripts can test: 3 for a timeout, 4 for a queue that does not exist, 1 otherwise.
func reportingErrors<R>(_ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as TransportError {
        printError("aq: \(printable(error.description))")
        throw error.code == .timeout ? ExitCode(3) : ExitCode.failure
    } catch let error as ArrayQueueError {
        printError("aq: \(printable(error.description))")
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
