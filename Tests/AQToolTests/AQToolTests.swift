import ArrayQueuesTestSupport
import Foundation
import Testing

/// The `aq` command-line tool, run as a real process.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AQToolTests {
    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("aq")

    /// Runs `aq` with `arguments`, killing it after `timeout` seconds.
    @discardableResult
    func aq(_ arguments: [String], timeout: Double = 60) throws -> ProcessRun {
        try runProcess(Self.executable.path, arguments, timeout: timeout)
    }

    func python(_ script: String) throws -> String {
        let run = try runPython(["-c", script], timeout: 60)
        #expect(run.status == 0, "python3 with numpy is required (scripts/bootstrap installs it): \(run.errors)")
        return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aq-tool-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("create, put numpy files, inspect, ls, get them back bit-exact, rm; exit codes mean something")
    func queueCommands() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "t-tool-\(getpid())"
        let source = directory.appendingPathComponent("in.npy").path
        _ = try python("import numpy as np; np.save('\(source)', (np.arange(60, dtype='<i2') - 30).reshape(3, 4, 5))")

        #expect(try aq(["create", name, "--capacity", "1MiB"]).status == 0)
        defer { _ = try? aq(["rm", "--force", name]) }
        #expect(try aq(["create", name, "--capacity", "1MiB"]).status == 1)
        #expect(try aq(["put", name, source, "--repeat", "3", "--index", "10"]).status == 0)
        let inspect = try aq(["inspect", name])
        #expect(inspect.status == 0 && inspect.output.contains("3 records waiting") && inspect.output.contains("<i2 [3, 4, 5]"))
        #expect(try aq(["ls"]).output.contains(name))
        let out = directory.appendingPathComponent("out").path
        #expect(try aq(["get", name, "--count", "2", "--out-dir", out]).status == 0)
        let listing = try aq(["get", name, "--timeout", "1"])
        #expect(listing.output.contains("seq=2") && listing.output.contains("index=12") && listing.output.contains("dtype=<i2"))
        let same = try python("""
            import numpy as np, glob
            a = np.load('\(source)')
            files = sorted(glob.glob('\(out)/*.npy'))
            print(len(files), all(np.array_equal(np.load(f), a) and np.load(f).dtype == a.dtype for f in files))
            """)
        #expect(same == "2 True")
        #expect(try aq(["get", name, "--timeout", "0.1"]).status == 3)
        #expect(try aq(["get", "t-tool-none-\(getpid())"]).status == 4)
        #expect(try aq(["put", name, directory.appendingPathComponent("missing.npy").path]).status == 1)
        #expect(try aq(["get", name, "--timeout", "nan"]).status != 0)
        #expect(try aq(["rm", name]).status == 0)
        #expect(try aq(["rm", name]).status == 4)
    }

    @Test("aq put --batch and aq get --batch move 600 records in batches, in order")
    func batches() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "t-tool-batch-\(getpid())"
        let source = directory.appendingPathComponent("in.npy").path
        _ = try python("import numpy as np; np.save('\(source)', np.arange(4, dtype='<f4'))")
        #expect(try aq(["create", name, "--capacity", "1MiB"]).status == 0)
        defer { _ = try? aq(["rm", "--force", name]) }
        #expect(try aq(["put", name, source, "--repeat", "2", "--batch", "--index", "1"]).status != 0)
        let put = try aq(["put", name, source, "--repeat", "600", "--batch", "--timeout", "10"])
        #expect(put.status == 0 && put.output.contains("put 600 ×") && put.output.contains("(600 waiting)"), "\(put.output)")
        let got = try aq(["get", name, "--count", "600", "--batch", "--timeout", "10"])
        let lines = got.output.split(separator: "\n").filter { $0.hasPrefix("seq=") }
        #expect(got.status == 0 && lines.count == 600)
        #expect(lines.first?.hasPrefix("seq=0 ") == true && lines.last?.hasPrefix("seq=599 ") == true)
        #expect(try aq(["get", name, "--batch", "--timeout", "0.1"]).status == 3)
    }

    @Test("arguments that trapped are usage errors (exit status 64) that put nothing: --index whose repeats overflow Int64, a negative inspect --limit, demo-worker --seconds out of range")
    func argumentsThatTrapped() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "t-tool-bounds-\(getpid())"
        let source = directory.appendingPathComponent("in.npy").path
        _ = try python("import numpy as np; np.save('\(source)', np.arange(3, dtype='<i4'))")
        #expect(try aq(["create", name, "--capacity", "1MiB"]).status == 0)
        defer { _ = try? aq(["rm", "--force", name]) }
        let overflowing = try aq(["put", name, source, "--repeat", "2", "--index", "\(Int64.max)"])
        #expect(overflowing.status == 64 && overflowing.errors.contains("--index"), "\(overflowing.errors)")
        #expect(try aq(["inspect", name]).output.contains("0 records waiting"))
        #expect(try aq(["put", name, source, "--repeat", "2", "--index", "\(Int64.max - 1)"]).status == 0)
        let negative = try aq(["inspect", name, "--limit=-1"])
        #expect(negative.status == 64 && negative.errors.contains("--limit"), "\(negative.errors)")
        #expect(try aq(["inspect", name, "--limit", "0"]).output.contains("… 2 more"))
        for seconds in ["nan", "1e300", "-1"] {
            let worker = try aq(["demo-worker", "produce", name, "--size", "4", "--seconds=\(seconds)"])
            #expect(worker.status == 64 && worker.errors.contains("--seconds"), "\(seconds): \(worker.errors)")
        }
        #expect(try aq(["inspect", name]).output.contains("2 records waiting"))
    }

    @Test("aq demo streams frames between two processes and verifies them")
    func demo() throws {
        let run = try aq(["demo", "--seconds", "1", "--size", "256"], timeout: 120)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("ok: every frame arrived intact"))
    }

    @Test("aq send → aq recv over tcp, ipc and shm: every record arrives bit-exact, even when the sender exits at once", arguments: ["tcp", "ipc", "shm"])
    func sendAndReceive(kind: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("in.npy").path
        _ = try python("import numpy as np; np.save('\(source)', np.linspace(0, 1, 1_000_000, dtype='<f8').reshape(1000, 1000))")
        let port = try freeLoopbackPort()
        let endpoint = switch kind {
        case "tcp": (send: "tcp://127.0.0.1:\(port)", receive: "tcp://127.0.0.1:\(port)")
        case "ipc": (send: "ipc://\(directory.path)/stream.sock", receive: "ipc://\(directory.path)/stream.sock")
        default: (send: "shm://t-tool-stream-\(getpid())", receive: "shm://t-tool-stream-\(getpid())")
        }
        defer { if kind == "shm" { _ = try? aq(["rm", "--force", "t-tool-stream-\(getpid())"]) } }
        let out = directory.appendingPathComponent("out").path
        let receiver = try ChildProcess(Self.executable.path, ["recv", endpoint.receive, "--count", "5", "--out-dir", out, "--timeout", "30"])
        let sender = try aq(["send", endpoint.send, source, "--repeat", "5", "--timeout", "30"])
        #expect(sender.status == 0, "\(sender.errors)")
        let received = receiver.finish(timeout: 60)
        #expect(received.status == 0 && !received.timedOut, "\(received.errors)")
        let same = try python("""
            import numpy as np, glob
            a = np.load('\(source)')
            files = sorted(glob.glob('\(out)/*.npy'))
            print(len(files), all(np.array_equal(np.load(f), a) for f in files))
            """)
        #expect(same == "5 True")
    }
}

extension AQToolTests {
    @Test("a broadcast queue: create --broadcast, two aq get subscribers each read every record; the default start is the newest record; ls and inspect show the mode and the subscribers")
    func broadcastCommands() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = "t-tool-bcast-\(getpid())"
        let source = directory.appendingPathComponent("in.npy").path
        _ = try python("import numpy as np; np.save('\(source)', np.arange(12, dtype='<u2').reshape(3, 4))")
        let created = try aq(["create", name, "--capacity", "1MiB", "--broadcast"])
        #expect(created.status == 0 && created.output.contains("broadcast queue"))
        defer { _ = try? aq(["rm", "--force", name]) }
        #expect(try aq(["create", "\(name)-x", "--broadcast", "--shape-change", "reset"]).status != 0)
        #expect(try aq(["put", name, source, "--repeat", "3", "--index", "10"]).status == 0)
        for policy in ["block", "drop"] {
            let read = try aq(["get", name, "--policy", policy, "--start", "oldest", "--count", "3", "--timeout", "5"])
            #expect(read.status == 0 && (10...12).allSatisfy { read.output.contains("index=\($0)") }, "\(policy): \(read.output) \(read.errors)")
        }
        let newest = try aq(["get", name, "--timeout", "5"])
        #expect(newest.output.contains("index=12") && !newest.output.contains("index=11"), "the default start is the newest record: \(newest.output)")
        let plain = try aq(["ls"]).output.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        #expect(plain?.contains("bcast/0") == true, "\(String(describing: plain))")
        // A subscriber waiting in another process shows up in inspect.
        let waiting = Process()
        waiting.executableURL = Self.executable
        waiting.arguments = ["get", name, "--start", "next", "--timeout", "20"]
        waiting.standardOutput = FileHandle.nullDevice
        try waiting.run()
        defer { if waiting.isRunning { waiting.terminate() } }
        var inspect = ""
        for _ in 0..<200 where !inspect.contains("subscribers   1") {
            usleep(50_000)
            inspect = try aq(["inspect", name]).output
        }
        #expect(inspect.contains("mode          broadcast") && inspect.contains("subscribers   1") && inspect.contains("block  delivered 0  lost 0"), "\(inspect)")
        #expect(try aq(["put", name, source]).status == 0)
        waiting.waitUntilExit()
        #expect(waiting.terminationStatus == 0)
    }
}
