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
        let port = try freeLoopbackPort()
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

    @Test("aq send/recv shm://: another user's group queue is refused unless --allow-other-owner")
    func sharedGroupEndpoint() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aq-group-\(UUID().uuidString.prefix(8)).npy").path
        try NPYFile.uint8([5, 6, 7]).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        chmod(file, 0o644)
        let run = try inPrivateSharedMemory("""
            # Room for the default 256 MiB a shm:// endpoint would create with (a tmpfs limit, not memory):
            # openOrCreate checks for room before it finds that the queue exists.
            mount -o remount,size=512m /dev/shm
            $NOBODY $AQ create grp --capacity 1MiB --mode 660
            $NOBODY $AQ send shm://grp '\(file)' --timeout 5
            echo "--- mode $(stat -c %a /dev/shm/aq.grp)"
            echo '--- refused'; $AQ recv shm://grp --timeout 5 2>&1 || echo "status $?"
            echo '--- allowed'; $AQ recv shm://grp --allow-other-owner --timeout 5
            """, timeout: 40)
        #expect(run.status == 0, "\(run.errors)")
        let parts = run.output.components(separatedBy: "--- ")
        #expect(parts.count == 4, "\(run.output)")
        guard parts.count == 4 else { return }
        #expect(parts[1].hasPrefix("mode 660"), "\(parts[1])")
        #expect(parts[2].contains("belongs to user 65534") && parts[2].contains("status 1"), "\(parts[2])")
        #expect(parts[3].contains("stream=grp") && parts[3].contains("[3]"), "\(parts[3])")
    }

    @Test("unfinished files of our own user whose creator lock a live process holds do not stall ls or gc")
    func lockedUnfinishedFiles() throws {
        // Each used to cost `aq ls` the 30 s an opener waits for a creator at work.
        let run = try inPrivateSharedMemory("""
            python3 -c '
            import fcntl, os, sys, time
            for i in range(3):
                fd = os.open("/dev/shm/aq.held%d" % i, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 64)
            print("held", flush=True)
            time.sleep(60)
            ' > /dev/shm/.held-ready &
            holder=$!
            trap 'kill $holder' EXIT
            for i in $(seq 1 200); do grep -q held /dev/shm/.held-ready && break; sleep 0.05; done
            $AQ create real --capacity 1MiB
            echo '--- ls'; timeout 20 $AQ ls
            echo '--- gc'; timeout 20 $AQ gc --dry-run
            """, timeout: 40)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        let parts = run.output.components(separatedBy: "--- ")
        #expect(parts.count == 3, "\(run.output)")
        guard parts.count == 3 else { return }
        #expect(parts[1].contains("held2") && parts[1].contains("unreadable") && parts[1].contains("real"))
        #expect(parts[2].contains("would remove real") && !parts[2].contains("held"))
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

extension HostileLocalToolTests {
    /// Starts a peer that binds PUSH on `port` and sends one record of uint8 arrays with these
    /// names (JSON string literals); the caller runs `aq recv` against it.
    func sendingPeer(port: Int, names: [String]) throws -> ChildProcess {
        let arrays = names.map { #"{"name": \#($0), "dtype": "|u1", "shape": [4], "order": "C", "nbytes": 4, "codec": "raw"}"# }
        return try startPython(["-c", """
            import json, time, zmq
            s = zmq.Context.instance().socket(zmq.PUSH); s.setsockopt(zmq.LINGER, 5000); s.bind("tcp://127.0.0.1:\(port)")
            h = {"proto": "arrf/1", "kind": "data", "stream": "s", "epoch": 5, "seq": 0, "t_ns": time.time_ns(),
                 "arrays": [\(arrays.joined(separator: ", "))]}
            s.send_multipart([b"s", json.dumps(h).encode()] + [bytes([0, 1, 2, 3])] * \(names.count)); s.close()
            """])
    }

    @Test("array names from the network are printed escaped by aq recv")
    func escapedArrayNamesFromTheNetwork() throws {
        let port = try freeLoopbackPort()
        // One record whose array is named with a screen-clearing escape.
        let peer = try sendingPeer(port: port, names: [#""\u001b[2Jx""#])
        defer { peer.kill() }
        let run = try runProcess(AQToolTests.executable.path, ["recv", "tcp://127.0.0.1:\(port)", "--count", "1", "--timeout", "20"], timeout: 30)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("\\x1b[2Jx:|u1[4]"), "aq recv printed: \(run.output.debugDescription)")
        #expect(!run.output.contains("\u{1b}"))
    }

    @Test("aq recv --out-dir keeps array names from the network to one printable file name in the directory")
    func arrayNamesAsFileNames() throws {
        let port = try freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aq-names-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let peer = try sendingPeer(port: port, names: [#""../../up""#, #""bell\u0007""#])
        defer { peer.kill() }
        let run = try runProcess(AQToolTests.executable.path, ["recv", "tcp://127.0.0.1:\(port)", "--count", "1", "--timeout", "20", "--out-dir", directory.path], timeout: 30)
        #expect(run.status == 0, "\(run.errors)")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? []
        #expect(files == ["0000000000-..\\x2f..\\x2fup.npy", "0000000000-bell\\x07.npy"], "\(files)")
    }
}
