@_spi(Transport) @testable import ArrayQueues
import CArrayQueuesShims
import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// Hostile and unlucky local neighbours (issue 12): segments made by another user, empty files
/// named like queues, creators that stall or die, and processes in another pid namespace
/// sharing `/dev/shm` (containers run with `--ipc=host`).
///
/// "Another user" is `nobody` through `setpriv`, and pid namespaces come from `unshare`: both
/// need root, which CI has.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: getuid() == 0, "needs root for setpriv and unshare"))
struct HostileLocalTests {
    static let nobody: uid_t = 65534
    static let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    /// A new pid namespace (with its own /proc), sharing this one's /dev/shm. A shell is its
    /// init (pid 1), so that the helper is an ordinary process there (pid 2): an init ignores
    /// the SIGKILL it sends itself.
    static let inNewPIDNamespace = ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", "\"$0\" \"$@\"; exit $?"]

    static func path(_ name: String) -> String { "/dev/shm/aq.\(name)" }

    static func owner(_ name: String) throws -> uid_t {
        var status = stat()
        guard stat(path(name), &status) == 0 else { throw POSIXError(.ENOENT) }
        return status.st_uid
    }

    /// Runs a program to its end (bounded), failing the test on a non-zero exit.
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try runProcess(arguments[0], Array(arguments.dropFirst()), timeout: 30)
        #expect(run.status == 0, "\(arguments) failed: \(run.errors)", sourceLocation: sourceLocation)
    }

    // MARK: Owner

    @Test("a segment created by another user is refused unless the caller allows other owners; stale checks leave it alone",
          arguments: [0o600, 0o666])
    func otherOwnerRefused(mode: Int) throws {
        let name = uniqueQueueName("owner")
        let creator = try HelperProcess(["create", name, "65536"], launcher: Self.asNobody)
        #expect(creator.finish(timeout: 30).output.contains("created"))
        defer { try? ArrayQueue.remove(name: name) }
        #expect(try Self.owner(name) == Self.nobody)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: Self.path(name))

        let refused = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(refused?.code == .untrustedOwner)
        #expect(refused?.message.contains("65534") == true)
        #expect((#expect(throws: ArrayQueueError.self) {
            try ArrayQueue.openOrCreate(name: name, capacity: 65536)
        })?.code == .untrustedOwner)
        #expect(ArrayQueue.isStale(name: name) == nil)
        #expect(!ArrayQueue.removeStale(dryRun: true).contains(name))

        // Opted in (a group that shares queues on purpose): a normal queue.
        let allowed = QueueOptions(allowOtherOwner: true)
        do {
            let queue = try ArrayQueue.open(name: name, options: allowed)
            try queue.put(try NDArray<UInt8>(shape: [3], elements: [1, 2, 3]))
            #expect(try queue.get(as: UInt8.self).elements == [1, 2, 3])
        }
        #expect(ArrayQueue.isStale(name: name, options: allowed) == true)
    }

    @Test("empty and tiny files of another user named like queues are refused at once, not waited for")
    func emptyFilesOfAnotherUser() throws {
        let names = (0..<3).map { uniqueQueueName("empty\($0)") }
        defer { for name in names { try? FileManager.default.removeItem(atPath: Self.path(name)) } }
        for (index, name) in names.enumerated() {
            try Self.run(Self.asNobody + ["/bin/sh", "-c", "umask 0; head -c \(index * 100) /dev/zero > \(Self.path(name))"])
            #expect(try Self.owner(name) == Self.nobody)
            let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
            #expect(error?.code == .untrustedOwner)
            #expect(ArrayQueue.isStale(name: name) == nil)
        }
    }

    @Test("a FIFO or directory named like a queue is not a segment: refused at once, never waited for or blocked on")
    func notRegularFiles() throws {
        let fifo = uniqueQueueName("fifo"), directory = uniqueQueueName("dir"), othersFIFO = uniqueQueueName("nobodyfifo")
        #expect(mkfifo(Self.path(fifo), 0o666) == 0)
        #expect(mkdir(Self.path(directory), 0o777) == 0)
        try Self.run(Self.asNobody + ["/usr/bin/mkfifo", "-m", "666", Self.path(othersFIFO)])
        defer { for name in [fifo, directory, othersFIFO] { _ = remove(Self.path(name)) } }
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: fifo) })?.code == .foreignSegment)
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: directory) })?.code == .systemCall)
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: othersFIFO) })?.code == .untrustedOwner)
        #expect((#expect(throws: ArrayQueueError.self) {
            try ArrayQueue.open(name: othersFIFO, options: QueueOptions(allowOtherOwner: true))
        })?.code == .foreignSegment)
        #expect(ArrayQueue.isStale(name: fifo) == nil && ArrayQueue.isStale(name: directory) == nil)
    }

    // MARK: Unfinished segments

    @Test("an empty file of this user that no creator is working on fails at once as unfinished")
    func abandonedEmptyFile() throws {
        let name = uniqueQueueName("abandoned")
        #expect(FileManager.default.createFile(atPath: Self.path(name), contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: Self.path(name)) }
        // Past the grace an unlocked file gets for a creator between shm_open and taking its lock.
        usleep(UInt32(SharedMemorySegment.creatorGrace / 1000) + 100_000)
        #expect(SharedMemorySegment.creatorState(objectName: "/aq.\(name)") == .gone)
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(error?.code == .corruptSegment && error?.message.contains("no longer running") == true)
    }

    @Test("stale checks do not wait for an unfinished file whose creator's lock someone holds: they leave it alone at once")
    func staleChecksDoNotWaitForCreators() throws {
        let name = uniqueQueueName("lockedcreator")
        let fd = open(Self.path(name), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer {
            close(fd)
            _ = remove(Self.path(name))
        }
        // Any process of this user (or a stopped creator) can hold the creator's byte for ever.
        #expect(Sys.lockByte(fd, UInt64(CAQ_CREATOR_LOCK_BYTE)) == true)
        // open waits up to 30 s for a creator at work; a stale check must not (bounded well below that).
        let (status, output) = try HelperProcess(["stale-check", name]).finish(timeout: 10)
        #expect(status == 0 && output.contains("stale unknown") && output.contains("gc kept"), "the helper said: \(output)")
    }

    @Test("open waits for a creator that is alive but slow (longer than the 2 s open used to wait)")
    func slowCreatorIsWaitedFor() throws {
        let name = uniqueQueueName("slow")
        let creator = try HelperProcess(["create-slowly", name, "65536", "3"])
        defer { try? ArrayQueue.remove(name: name) }
        #expect(eventually(within: 20) { SharedMemorySegment.creatorState(objectName: "/aq.\(name)") == .creating })
        let queue = try ArrayQueue.open(name: name)
        #expect(queue.capacity == 65536)
        #expect(creator.finish(timeout: 30).output.contains("created"))
    }

    @Test("a creator that dies before finishing: open fails at once (its lock is gone), naming the cause")
    func deadCreator() throws {
        let name = uniqueQueueName("deadcreator")
        let creator = try HelperProcess(["create-and-die", name, "65536"])
        defer { try? ArrayQueue.remove(name: name) }
        #expect(creator.waitForExit(timeout: 30)?.reason == .uncaughtSignal)
        #expect(ArrayQueue.exists(name: name))
        usleep(UInt32(SharedMemorySegment.creatorGrace / 1000) + 100_000)
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(error?.code == .corruptSegment && error?.message.contains("no longer running") == true)
    }

    // MARK: Pid namespaces

    @Test("a consumer in another pid namespace blocked in get is woken by a put from a process that attaches later")
    func consumerInAnotherPIDNamespaceIsWoken() throws {
        try withQueue { queue in
            let consumer = try HelperProcess(["wait-get", queue.name, "30"], launcher: Self.inNewPIDNamespace)
            #expect(eventually(within: 20) { queue.attachments().count == 2 })
            let attached = queue.attachments().filter { $0.pid != getpid() }
            #expect(attached.count == 1 && attached.allSatisfy { $0.isAlive && $0.isInAnotherPIDNamespace })
            usleep(300_000)  // let it register as a watcher and sleep
            // A new process attaches (it used to declare the consumer dead and reset the watchers), then puts.
            let producer = try HelperProcess(["produce", queue.name, "0", "1", "16"])
            #expect(producer.finish(timeout: 30).output.contains("produced 1"))
            let (status, output) = consumer.finish(timeout: 20)
            #expect(status == 0 && output.contains("got 0"), "the consumer said: \(output)")
        }
    }

    @Test("a queue used only by a process in another pid namespace is not stale; it is once that process exits")
    func usedFromAnotherPIDNamespaceIsNotStale() throws {
        let name = uniqueQueueName("nsstale")
        _ = try ArrayQueue.create(name: name, capacity: 65536)
        defer { try? ArrayQueue.remove(name: name) }
        let consumer = try HelperProcess(["wait-get", name, "30"], launcher: Self.inNewPIDNamespace)
        #expect(eventually(within: 20) { (try? ArrayQueue.open(name: name))?.attachments().count == 2 })
        #expect(ArrayQueue.isStale(name: name) == false)
        #expect(!ArrayQueue.removeStale(dryRun: true).contains(name))
        try ArrayQueue.open(name: name).put(try NDArray<UInt8>(shape: [1], elements: [1]))
        #expect(consumer.finish(timeout: 20).output.contains("got 0"))
        #expect(ArrayQueue.isStale(name: name) == true)
    }

    @Test("a writer in another pid namespace is not swept while it lives; one that dies is")
    func writerInAnotherPIDNamespace() throws {
        try withQueue { queue in
            let writer = try HelperProcess(["hold-write", queue.name, "3"], launcher: Self.inNewPIDNamespace)
            #expect(eventually(within: 20) { (try? queue.recordSummaries())?.first?.state == .writing })
            #expect(try queue.recoverFromDeadPeers() == false)
            #expect(try queue.statistics().abandonedWrites == 0)
            #expect(writer.finish(timeout: 30).output.contains("written"))
            #expect(try queue.get(as: UInt8.self, timeout: .seconds(10)).elements == Array(repeating: 7, count: 100))

            let victim = try HelperProcess(["die-in-fill", queue.name], launcher: Self.inNewPIDNamespace)
            _ = victim.waitForExit(timeout: 30)
            #expect(try queue.recoverFromDeadPeers() == true)
            #expect(try queue.statistics().abandonedWrites == 1)
        }
    }
}
