import ArrayQueuesTestSupport
import Foundation
import Testing

/// C programs compiled with `cc $(pkg-config --cflags --libs arrayqueues)` and run, as a C
/// user would: the examples of `examples/c/` and a program that calls every function of
/// `arrayqueues.h` with good and bad arguments.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct CProgramTests {
    @Test("every function and error path of arrayqueues.h, from C")
    func abiTestProgram() throws {
        try CToolchain.runCheckedProgram("Tests/ArrayQueuesCTests/c/abi_test.c", extraFlags: "-pthread", timeout: 180)
    }

    @Test("broadcast queues from C: every subscriber gets every record, copies and borrows, block and drop, errors")
    func broadcastTestProgram() throws {
        try CToolchain.runCheckedProgram("Tests/ArrayQueuesCTests/c/broadcast_test.c", timeout: 60)
    }

    @Test("examples/c/queue_example.c: a producer and a consumer process, copies, loans and borrows")
    func queueExample() throws {
        let run = try CToolchain.compileAndRun("examples/c/queue_example.c", timeout: 60)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("consumer: buffer grown to 1228800 bytes"))
        for frame in 0..<4 { #expect(run.output.contains("consumer: got frame \(frame) (copied) ok")) }
        for frame in 4..<8 { #expect(run.output.contains("consumer: got frame \(frame) (borrowed) ok")) }
        #expect(run.output.contains("consumer: 8 of 8 frames ok"))
        #expect(run.output.contains("producer: queue statistics: 8 puts, 8 gets, 0 waiting"), "\(run.output)")
    }

    @Test("examples/c/transport_example.c: messages of several arrays over tcp:// and ipc://", arguments: ["", "ipc"])
    func transportExample(_ transport: String) throws {
        let run = try CToolchain.compileAndRun("examples/c/transport_example.c", timeout: 60) { prefix in
            transport == "ipc" ? ["ipc://\(prefix.path)/example.sock"] : []
        }
        #expect(run.status == 0, "\(run.errors)")
        for sequence in 0..<3 {
            #expect(run.output.contains("receiver: message \(sequence) of stream 'camera0': image uint16, vector float64, index \(sequence), meta {\"exposure_us\":1200} ok"), "\(run.output)")
        }
        #expect(run.output.contains("receiver: end of stream 'camera0'"))
        #expect(run.output.contains("receiver: 3 received, 0 lost"))
    }

    @Test("the header compiles as C99 with -pedantic and as C++")
    func headerCompiles() throws {
        let prefix = try CToolchain.makePrefix()
        defer { try? FileManager.default.removeItem(at: prefix) }
        let source = prefix.appendingPathComponent("include-only.c")
        try "#include <arrayqueues.h>\nint main(void) { return aq_abi_version() == AQ_ABI_VERSION ? 0 : 1; }\n".write(to: source, atomically: true, encoding: .utf8)
        let c = try CToolchain.shell("cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only '\(source.path)' $(pkg-config --cflags arrayqueues)", prefix: prefix, timeout: 60)
        #expect(c.status == 0, "\(c.errors)")
        let cxx = try CToolchain.shell("c++ -x c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only '\(source.path)' $(pkg-config --cflags arrayqueues)", prefix: prefix, timeout: 60)
        #expect(cxx.status == 0, "\(cxx.errors)")
    }

    @Test("every function the header declares is exported by the library, and nothing else named aq_")
    func exportsMatchHeader() throws {
        let header = try String(contentsOf: CToolchain.packageRoot.appendingPathComponent("Sources/CArrayQueuesC/include/arrayqueues.h"), encoding: .utf8)
        // Declarations start a line: a return type, then `aq_name(`.
        let declared = Set(header.split(separator: "\n").compactMap { line -> String? in
            guard !line.hasPrefix(" "), !line.hasPrefix("#"), !line.hasPrefix("/"), !line.hasPrefix("*"),
                  let open = line.firstIndex(of: "("), let start = line[..<open].range(of: "aq_", options: .backwards) else { return nil }
            return String(line[start.lowerBound..<open])
        })
        let nm = try runProcess("/usr/bin/nm", ["-D", "--defined-only", CToolchain.library.path], timeout: 60)
        try #require(nm.status == 0, "\(nm.errors)")
        let exported = Set(nm.output.split(separator: "\n").compactMap { line -> String? in
            let name = line.split(separator: " ").last.map(String.init) ?? ""
            return name.hasPrefix("aq_") ? name : nil
        })
        #expect(declared.count >= 66)
        #expect(declared == exported, "declared only: \(declared.subtracting(exported).sorted()); exported only: \(exported.subtracting(declared).sorted())")
    }
}
