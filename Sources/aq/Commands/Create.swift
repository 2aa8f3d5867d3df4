import ArgumentParser
import ArrayQueues

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a queue.",
        discussion: "The memory is reserved now: a /dev/shm that is too small is reported at once.")

    @Argument(help: "The queue's name (letters, digits and . _ - @ + = , :).")
    var name: String

    @Option(help: "Bytes of array data the queue can hold (e.g. 64MiB, 1GB).")
    var capacity: ByteSize = ByteSize(bytes: 64 << 20)

    @Option(help: "On a new dtype or shape: keep everything (keep), or drop waiting records (reset).")
    var shapeChange: ShapeChangePolicy = .keep

    @Flag(help: "Make a broadcast queue: every subscriber (aq get, aq-relay serve, …) reads every record.")
    var broadcast = false

    @OptionGroup var mode: ModeOptions

    @Flag(help: "Succeed if the queue exists already.")
    var existOk = false

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        let modeBits = try mode.bits()
        try reportingErrors {
            let options = CreateOptions(shapeChange: shapeChange, mode: modeBits, broadcast: broadcast)
            let queue = existOk
                ? try ArrayQueue.openOrCreate(name: name, capacity: capacity.bytes, creating: options, options: owner.queueOptions())
                : try ArrayQueue.create(name: name, capacity: capacity.bytes, creating: options)
            print("\(queue.isBroadcast ? "broadcast queue" : "queue") \(queue.name): \(ByteCount.format(queue.capacity)) in /dev/shm/aq.\(queue.name)")
        }
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove queues by name.",
        discussion: "Processes that have a queue open keep using it until they close it.")

    @Argument(help: "Names of the queues to remove.")
    var names: [String]

    @Flag(help: "Do not complain about queues that do not exist.")
    var force = false

    func run() throws {
        try reportingErrors {
            for name in names {
                do throws(ArrayQueueError) {
                    try ArrayQueue.remove(name: name)
                } catch {
                    guard error.code == .notFound && force else { throw error }
                }
            }
        }
    }
}

struct GarbageCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Remove queues that no live process has open.",
        discussion: "A queue is kept while any process recorded in its table of attached processes is alive, in this or another pid namespace. Queues that cannot be read, and queues of other users (unless --allow-other-owner), are left alone.")

    @Flag(help: "Only list what would be removed.")
    var dryRun = false

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        let removed = ArrayQueue.removeStale(dryRun: dryRun, options: owner.queueOptions())
        for name in removed { print(dryRun ? "would remove \(printable(name))" : "removed \(printable(name))") }
        if removed.isEmpty { print("no stale queues") }
    }
}
