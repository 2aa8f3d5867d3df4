import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing

/// `aq ls`, `aq gc`, `aq get` and `aq put` among hostile or unlucky neighbours (issue 12), each
/// scenario in a private `/dev/shm` (a tmpfs in a mount namespace of its own), so that `aq gc`
/// never touches the machine's queues. Needs root (for `unshare`, `mount` and `setpriv`), as CI has.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: getuid() == 0, "needs root for unshare, mount and setpriv"))
struct HostileLocalToolTests {
    /// Runs `script` with `sh` in a new mount namespace over an empty private `/dev/shm`; `$AQ`
    /// is the aq tool. The whole run is bounded by `timeout` seconds.
    func inPrivateSharedMemory(_ script: String, timeout: Double) throws -> ProcessRun {
        let prelude = """
            set -eu
            mount -t tmpfs -o size=64m,mode=1777 tmpfs /dev/shm
            AQ='\(AQToolTests.executable.path)'
            NOBODY='setpriv --reuid=65534 --regid=65534 --clear-groups'

            """
        return try runProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", prelude + script], timeout: timeout)
    }

    @Test("empty files of another user and of nobody's making do not stall ls, gc and a fast-path publisher's start; gc leaves them alone")
    func squatters() throws {
        // Each empty file used to cost every opener a 2 s wait: 21 of them, three times, far beyond the bound.
        let port = 30000 + Int(getpid() % 20000)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aq-squat-\(UUID().uuidString.prefix(8)).npy").path
        try NPYFile.uint8([5, 6, 7]).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let run = try inPrivateSharedMemory("""
            for i in $(seq 1 20); do $NOBODY sh -c "umask 0; : > /dev/shm/aq.aqfp.squat$i"; done
            : > /dev/shm/aq.own-empty
            sleep 1.2   # past the grace an unlocked unfinished file gets
            $AQ create real --capacity 1MiB
            echo '--- ls'; $AQ ls
            echo '--- gc'; $AQ gc
            echo '--- send'; $AQ send tcp://127.0.0.1:\(port) '\(file)' --pattern pubsub
            echo '--- left'; ls /dev/shm
            """, timeout: 40)
        #expect(run.status == 0, "\(run.errors)")
        let parts = run.output.components(separatedBy: "--- ")
        #expect(parts.count == 5, "\(run.output)")
        guard parts.count == 5 else { return }
        let (list, gc, send, left) = (parts[1], parts[2], parts[3], parts[4])
        #expect(list.contains("aqfp.squat7") && list.contains("another user's") && list.contains("own-empty"))
        #expect(gc.contains("removed real") && !gc.contains("squat"))
        #expect(send.contains("sent 1"))
        #expect(!left.contains("aq.real") && left.contains("aq.aqfp.squat20") && left.contains("aq.own-empty"))
    }

    @Test("names with terminal escape sequences are printed escaped by ls and in error messages")
    func escapedNames() throws {
        let run = try inPrivateSharedMemory("""
            : > "$(printf '/dev/shm/aq.evil\\033]0;pwned\\007\\033[2J\\342\\200\\256')"
            $AQ create plain --capacity 1MiB
            $AQ ls
            $AQ inspect "$(printf 'x\\033[2J')" || true
            """, timeout: 40)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("evil\\x1b]0;pwned\\x07\\x1b[2J\\u{202e}") && run.output.contains("plain"), "\(run.output)")
        #expect(run.errors.contains("x\\x1b[2J"), "\(run.errors)")
        #expect(!(run.output + run.errors).contains("\u{1b}") && !run.output.contains("\u{07}") && !run.output.contains("\u{202e}"))
    }

    @Test("a consumer of another pid namespace blocked in `aq get`: `aq gc` keeps its queue and `aq put` wakes it")
    func consumerInAnotherPIDNamespace() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aq-hostile-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("a.npy").path
        try NPYFile.uint8([5, 6, 7]).write(to: URL(fileURLWithPath: file))

        let run = try inPrivateSharedMemory("""
            $AQ create shared --capacity 1MiB
            unshare --pid --fork --mount-proc sh -c '"$0" get shared --timeout 30; exit $?' "$AQ" > '\(directory.path)/got' &
            consumer=$!
            for i in $(seq 1 200); do $AQ ls | grep -q ' 2\\*' && break; sleep 0.05; done
            echo '--- ls'; $AQ ls
            echo '--- gc'; $AQ gc
            echo '--- put'; $AQ put shared '\(file)'
            wait $consumer
            echo '--- got'; cat '\(directory.path)/got'
            """, timeout: 60)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        let parts = run.output.components(separatedBy: "--- ")
        #expect(parts.count == 5, "\(run.output)")
        guard parts.count == 5 else { return }
        #expect(parts[1].contains("shared") && parts[1].contains(" 2*"))
        #expect(parts[2].contains("no stale queues"))
        #expect(parts[4].contains("seq=0") && parts[4].contains("shape=[3]"))
    }
}

enum NPYFile {
    /// A .npy file (format 1.0) of a one-dimensional uint8 array, written by hand: no numpy needed.
    static func uint8(_ values: [UInt8]) -> Data {
        var header = "{'descr': '|u1', 'fortran_order': False, 'shape': (\(values.count),), }"
        header += String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + values)
    }
}
