import ArgumentParser
import ArrayQueues
import Glibc

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the queues in /dev/shm with their size, contents and attached processes.",
        discussion: "Names are printed with control and other unprintable characters escaped (\\x1b, \\u{202e}).")

    @OptionGroup var owner: OwnerOptions

    func run() throws {
        let names = ArrayQueue.allNames()
        guard !names.isEmpty else {
            print("no queues")
            return
        }
        print(row("NAME", "MODE", "CAPACITY", "USED", "RECORDS", "ATTACHED (pid, † = dead, * = in another pid namespace)"))
        // A queue still being created is listed as unreadable rather than waited for.
        var options = owner.queueOptions()
        options.creatorWait = .zero
        for name in names {
            do throws(ArrayQueueError) {
                let queue = try ArrayQueue.open(name: name, options: options)
                let statistics = try queue.statistics()
                let attached = queue.attachments().filter { $0.pid != getpid() || $0.isInAnotherPIDNamespace }
                    .map { "\($0.pid)\($0.isInAnotherPIDNamespace ? "*" : "")\($0.isAlive ? "" : "†")" }.joined(separator: " ")
                let mode = queue.isBroadcast ? "bcast/\((try? queue.broadcastState().subscribers.count) ?? 0)" : "shared"
                print(row(printable(name), mode, ByteCount.format(statistics.capacity), ByteCount.format(statistics.bytesUsed), String(statistics.count), attached.isEmpty ? "-" : attached))
            } catch where error.code == .untrustedOwner {
                print(row(printable(name), "?", "?", "?", "?", "another user's (--allow-other-owner to read it)"))
            } catch {
                print(row(printable(name), "?", "?", "?", "?", "unreadable: \(error.code.rawValue)"))
            }
        }
    }

    private func row(_ columns: String...) -> String {
        let widths = [28, 10, 10, 10, 9]
        return zip(columns, widths + [0]).map { text, width in
            width == 0 ? text : text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0)
        }.joined()
    }
}
