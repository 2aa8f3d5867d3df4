import AQCommandLine
import ArrayRelay
import ArgumentParser
import ArrayQueues

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a queue's header, counters and records.")

    @Argument(help: "The queue's name.")
    var name: String

    @Option(help: "Show at most this many records.")
    var limit: Int = 50

    @OptionGroup var owner: OwnerOptions

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        try reportingErrors("aq") {
            let queue = try ArrayQueue.open(name: name, options: owner.queueOptions())
            let info = queue.info
            let statistics = try queue.statistics()
            print("queue \(printable(info.name))  (/dev/shm/aq.\(printable(info.name)), layout v\(info.layoutVersion))")
            print("  capacity      \(ByteCount.format(info.capacity)) (segment \(info.segmentSize) bytes)")
            print("  created       \(info.created) by pid \(info.creatorPID)")
            print("  mode          \(info.isBroadcast ? "broadcast (every subscriber reads every record)" : "shared (each record goes to one consumer)")")
            print("  shape change  \(info.shapeChange.rawValue)")
            // A broadcast queue keeps records its subscribers have read until room is needed.
            let held = info.isBroadcast ? "records held (read or not)" : "records waiting"
            print("  used          \(ByteCount.format(statistics.bytesUsed)), \(statistics.count) \(held)")
            print("  counters      puts \(statistics.puts)  gets \(statistics.gets)  drops \(statistics.drops)  resets \(statistics.resets)  clears \(statistics.clears)")
            print("  dead peers    abandoned writes \(statistics.abandonedWrites)  lost reads \(statistics.lostReads)")
            print("  next seq      \(statistics.nextSequence)")
            let attached = queue.attachments().map {
                "\($0.pid)\($0.isInAnotherPIDNamespace ? " (another pid namespace)" : "")\($0.isAlive ? "" : " (dead)")"
            }
            print("  attached      \(attached.joined(separator: ", "))")
            if info.isBroadcast {
                let state = try queue.broadcastState()
                print("  subscribers   \(state.subscribers.count) (joined \(state.joined), left \(state.left), reaped as dead \(state.reaped))")
                for subscriber in state.subscribers {
                    let flags = (subscriber.isReading ? " reading" : "") + (subscriber.isAlive ? "" : " (dead)")
                    print("    slot \(subscriber.slot)  pid \(subscriber.pid)  \(subscriber.policy.rawValue)  delivered \(subscriber.delivered)  lost \(subscriber.lost)  pending \(subscriber.pending)\(flags)")
                }
            }
            let records = try queue.recordSummaries()
            print("records (\(records.count) in the ring, oldest first):")
            for record in records.prefix(limit) {
                let dtype = record.dtype?.typestr ?? "?"
                let owner = record.ownerPID.map { " pid \($0)" } ?? ""
                let index = record.index.map { " index \($0)" } ?? ""
                print("  seq \(record.sequence)  \(record.state.rawValue)\(owner)  \(dtype) \(record.shape)  \(ByteCount.format(record.byteCount))  t=\(record.timestamp)\(index)")
            }
            if records.count > limit { print("  … \(records.count - limit) more") }
        }
    }
}
