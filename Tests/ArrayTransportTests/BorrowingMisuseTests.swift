import ArrayQueuesTestSupport
import Foundation
import Testing

/// A lent message, or a view of its arrays, cannot be kept past its closure: the compiler
/// refuses it. Checked by compiling small programs against the built ArrayTransport module.
@Suite("Borrowing receive: misuse does not compile", .serialized, .timeLimit(.minutes(3)))
struct BorrowingMisuseTests {
    /// The package's root (this file is Tests/ArrayTransportTests/BorrowingMisuseTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The build directory holding the test bundle, its `Modules` and the C targets' module maps.
    static let buildDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// Compiles `source` (after `import ArrayTransport`) through SIL diagnostics; the exit status and output.
    func compile(_ source: String) throws -> ProcessRun {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aqt-misuse-\(getpid())-\(UUID().uuidString.prefix(8)).swift")
        try ("import ArrayQueues\nimport ArrayTransport\n" + source).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var arguments = ["swiftc", "-emit-sil", "-o", "/dev/null", "-swift-version", "6", "-I", Self.buildDirectory.appendingPathComponent("Modules").path]
        for map in [Self.buildDirectory.appendingPathComponent("CArrayQueuesShims.build/module.modulemap").path,
                    Self.packageRoot.appendingPathComponent("Sources/CZeroMQ/module.modulemap").path]
        where FileManager.default.fileExists(atPath: map) {
            arguments += ["-Xcc", "-fmodule-map-file=\(map)"]
        }
        arguments += ["-Xcc", "-I", "-Xcc", Self.packageRoot.appendingPathComponent("Sources/CArrayQueuesShims/include").path, file.path]
        return try runProcess("/usr/bin/env", arguments, timeout: 120)
    }

    @Test("reading in place compiles; keeping the message, or a span of its bytes, past the closure does not")
    func escapesDoNotCompile() throws {
        let proper = try compile("""
            func read(_ receiver: any ArrayReceiver) throws -> Int? {
                try receiver.receive(timeout: .zero) { message in
                    message.withBytes(of: 0) { bytes in bytes.byteCount }
                }
            }
            """)
        try #require(proper.status == 0, "the proper use must compile (else this test checks nothing): \(proper.errors)")

        let keptSpan = try compile("""
            func leak(_ receiver: any ArrayReceiver) throws {
                var kept: RawSpan? = nil
                _ = try receiver.receive(timeout: .zero) { message in message.withBytes(of: 0) { kept = $0 } }
                _ = kept
            }
            """)
        #expect(keptSpan.status != 0)
        #expect(keptSpan.errors.contains("escapes its scope"), "\(keptSpan.errors)")

        let keptMessage = try compile("""
            func leak(_ receiver: any ArrayReceiver) throws {
                var kept: BorrowedArrayMessage? = nil
                _ = try receiver.receive(timeout: .zero) { message in kept = message }
                _ = kept
            }
            """)
        #expect(keptMessage.status != 0)
        #expect(keptMessage.errors.contains("message"), "\(keptMessage.errors)")
    }
}
