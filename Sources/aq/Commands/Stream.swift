import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Foundation

/// How `aq send` and `aq recv` use a network endpoint.
struct NetworkOptions: ParsableArguments {
    @Option(help: "ZeroMQ pattern: push/pull (every record to one receiver, with backpressure) or pub/sub (fan-out; slow subscribers drop).")
    var pattern: StreamPattern = .pushpull

    @Option(help: "bind (listen on the endpoint) or connect (to a peer listening on it). Default: send binds, recv connects.")
    var role: ConnectionRole?

    @Option(help: "Seconds to wait for each record or for room (default: as long as it takes).")
    var timeout: Seconds?

    @Option(help: "Same-host fast path: automatic (shared memory when both ends share /dev/shm), disabled (network only) or required (shared memory only; pub/sub).")
    var fastPath: FastPath = .automatic
}

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send an array from a .npy file to an endpoint: shm://QUEUE, tcp://HOST:PORT or ipc:///PATH.",
        discussion: """
            Examples:
              aq send tcp://*:5555 frame.npy --repeat 100       listen; an `aq recv tcp://127.0.0.1:5555` takes them
              aq send shm://camera0 frame.npy                   into a local shared-memory queue
            """)

    @Argument(help: "Where to send.")
    var endpoint: String

    @Argument(help: "A .npy file.")
    var file: String

    @Option(help: "Send the array this many times.")
    var `repeat`: Int = 1

    @Option(help: "The stream name (the topic subscribers filter on).")
    var stream: String = "aq"

    @OptionGroup var network: NetworkOptions

    @OptionGroup var owner: OwnerOptions

    @OptionGroup var mode: ModeOptions

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
    }

    func run() throws {
        try reportingErrors("aq") {
            let array = try NPY.read(contentsOf: file)
            let target = try Endpoint(endpoint)
            let sender = try target.makeSender(
                stream: stream, pattern: network.pattern == .pubsub ? .publish : .push, role: network.role ?? .bind,
                sharedMemory: .init(sendTimeout: network.timeout?.duration, access: try owner.access(creating: mode)),
                zeroMQ: .init(sendTimeout: network.timeout?.duration, fastPath: network.fastPath))
            defer { sender.close() }
            for counter in 0..<`repeat` {
                try sender.send(array, index: Int64(counter))
            }
            print("sent \(`repeat`) × \(array.dtype) \(array.shape) to \(target)")
        }
    }
}

struct Receive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recv",
        abstract: "Receive arrays from an endpoint, printing them or saving them as .npy files.",
        discussion: "Without -o or --out-dir, prints one line per record: stream, sequence, timestamp, index, arrays.")

    @Argument(help: "Where to receive from: shm://QUEUE, tcp://HOST:PORT or ipc:///PATH.")
    var endpoint: String

    @OptionGroup var destination: OutputOptions

    @Option(help: "With pub/sub: only streams whose name starts with this.")
    var subscribe: String = ""

    @OptionGroup var network: NetworkOptions

    @OptionGroup var owner: OwnerOptions

    @OptionGroup var mode: ModeOptions

    @Flag(name: [.short, .long], help: "At the end, print on stderr the path the records took (network or shared-memory) and the receiver's counters.")
    var verbose = false

    func run() throws {
        try reportingErrors("aq") {
            let source = try Endpoint(endpoint)
            let receiver = try source.makeReceiver(
                pattern: network.pattern == .pubsub ? .subscribe(prefixes: [subscribe]) : .pull, role: network.role ?? .connect,
                sharedMemory: try owner.access(creating: mode), zeroMQ: .init(fastPath: network.fastPath))
            defer { receiver.close() }
            try destination.prepare()
            for _ in 0..<destination.count {
                guard let message = try receiver.receive(timeout: network.timeout?.duration) else {
                    throw TransportError(.timeout, "no record arrived from \(source) within the timeout")
                }
                try save(message)
            }
            let statistics = receiver.statistics
            if verbose { printError("aq: " + printable(summary(statistics))) }
            if statistics.lost > 0 || statistics.malformed > 0 {
                printError("aq: \(statistics.lost) records lost, \(statistics.malformed) malformed ones rejected")
            }
        }
    }

    /// The path and counters, as `key=value` pairs.
    private func summary(_ statistics: ReceiverStatistics) -> String {
        var text = "path=\(statistics.path.rawValue) received=\(statistics.received)"
        text += " through-shared-memory=\(statistics.receivedThroughSharedMemory) switches=\(statistics.switchesToSharedMemory)"
        text += " lost=\(statistics.lost) out-of-order=\(statistics.outOfOrder) malformed=\(statistics.malformed)"
        if let problem = statistics.fastPathProblem { text += " fast-path-problem=\"\(problem)\"" }
        return text
    }

    private func save(_ message: ArrayMessage) throws {
        guard try !destination.save(message.arrays.map { ($0.name, $0.array) }, sequence: message.sequence) else { return }
        let arrays = message.arrays.map { "\(printable($0.name)):\($0.array.dtype.typestr)\($0.array.shape)" }.joined(separator: " ")
        print("stream=\(printable(message.stream)) seq=\(message.sequence) t=\(message.timestamp) index=\(message.index.map(String.init) ?? "-") \(arrays)")
    }
}
