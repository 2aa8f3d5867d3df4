// Roles for the hostile-local tests (HostileLocalTests): a creator that pauses or dies before its
// segment is finished, and a writer that holds a record in WRITING for a while.
//
//   create-slowly QUEUE CAPACITY SECONDS   create, pausing SECONDS before writing the header; print "created"
//   create-and-die QUEUE CAPACITY          create, and SIGKILL itself before writing the header
//   hold-write QUEUE SECONDS               put one uint8 record, SECONDS inside its fill; print "written"
//   fork-hold-write QUEUE SECONDS          open, fork; the parent exits at once, the child (its output
//                                          closed) puts one uint8 record through the inherited handle,
//                                          SECONDS inside its fill
//   stale-check QUEUE                      print "stale true|false|unknown" (isStale), then "gc listed|kept"
//                                          (removeStale, dry run)
//   fork-child-detaches QUEUE              open, fork; the child checks that it sees its parent alive (else it
//                                          exits 3), drops the inherited handle and exits; then print
//                                          "attached" or "detached" (is the parent still in the table?)
//   bcast-die-forked QUEUE SECONDS         subscribe (block, next), fork a child that sleeps SECONDS (no exec:
//                                          it inherits the slot's lock), print "grandchild PID", SIGKILL itself
@_spi(Testing) import ArrayQueues
@preconcurrency import Glibc

enum HostileRoles {
    /// Runs the role named in `arguments`; false if it is not one of these.
    static func run(_ arguments: [String]) -> Bool {
        do {
            switch arguments[1] {
            case "create-slowly":
                let seconds = Helper.integer(arguments, 4)
                _ = try ArrayQueue.createPausingForTesting(name: arguments[2], capacity: Helper.integer(arguments, 3)) {
                    sleep(UInt32(seconds))
                }
                print("created")
            case "create-and-die":
                _ = try ArrayQueue.createPausingForTesting(name: arguments[2], capacity: Helper.integer(arguments, 3)) {
                    Helper.killSelf()
                }
            case "hold-write":
                let seconds = Helper.integer(arguments, 3)
                let queue = try ArrayQueue.open(name: arguments[2])
                try queue.put(dtype: .uint8, shape: [100], timeout: .seconds(10)) { bytes in
                    sleep(UInt32(seconds))
                    for index in bytes.indices { bytes[index] = 7 }
                }
                print("written")
            case "stale-check":
                print("stale \(ArrayQueue.isStale(name: arguments[2]).map { "\($0)" } ?? "unknown")")
                print("gc \(ArrayQueue.removeStale(dryRun: true).contains(arguments[2]) ? "listed" : "kept")")
            case "fork-hold-write":
                let seconds = Helper.integer(arguments, 3)
                let queue = try ArrayQueue.open(name: arguments[2])
                guard forkProcess() == 0 else { exit(0) }
                detachFromTestPipes()
                try queue.put(dtype: .uint8, shape: [100], timeout: .seconds(10)) { bytes in
                    sleep(UInt32(seconds))
                    for index in bytes.indices { bytes[index] = 7 }
                }
                _exit(0)
            case "fork-child-detaches":
                var queue: ArrayQueue? = try ArrayQueue.open(name: arguments[2])
                let child = forkProcess()
                if child == 0 {
                    // The child sees its parent alive, though the parent's slot lock is its own too.
                    let parentAlive = queue?.attachments().contains { $0.pid == getppid() && $0.isAlive } == true
                    queue = nil
                    _exit(parentAlive ? 0 : 3)
                }
                var status: Int32 = 0
                guard child > 0, waitpid(child, &status, 0) == child, status == 0 else { Helper.fail("the child failed (\(status))") }
                print(queue?.attachments().contains { $0.pid == getpid() } == true ? "attached" : "detached")
            case "bcast-die-forked":
                let seconds = Helper.integer(arguments, 3)
                let queue = try ArrayQueue.open(name: arguments[2])
                let subscriber = try queue.subscribe(policy: .block, start: .next)
                let child = forkProcess()
                if child == 0 {
                    detachFromTestPipes()
                    sleep(UInt32(seconds))
                    _exit(0)
                }
                guard child > 0 else { Helper.fail("fork failed") }
                Helper.logLine("grandchild \(child) slot \(subscriber.slot)")
                Helper.killSelf()
            default:
                return false
            }
        } catch {
            Helper.fail("\(error)")
        }
        return true
    }
}

/// Lets the test see its helper end while a forked child goes on: the child's standard output and
/// error go to /dev/null, and it closes the other pipe ends it inherited (the queue's descriptor stays).
private func detachFromTestPipes() {
    let null = open("/dev/null", O_RDWR)
    dup2(null, 1)
    dup2(null, 2)
    var target = [CChar](repeating: 0, count: 64)
    for fd in Int32(3)..<1024 {
        let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
        if length > 0, String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).hasPrefix("pipe:") { close(fd) }
    }
}

/// `fork()`, which the Glibc module does not offer to Swift.
@_silgen_name("fork")
private func forkProcess() -> Int32
