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

    /// The module maps of the C modules the built Swift modules import: the package's own C
    /// targets (made by SwiftPM in the build directory, and CZeroMQ's) and its dependencies'.
    static let moduleMaps: [String] = {
        let files = FileManager.default
        var maps = [packageRoot.appendingPathComponent("Sources/CZeroMQ/module.modulemap").path]
        for entry in (try? files.contentsOfDirectory(atPath: buildDirectory.path)) ?? [] where entry.hasSuffix(".build") {
            let map = buildDirectory.appendingPathComponent(entry).appendingPathComponent("module.modulemap").path
            if files.fileExists(atPath: map) { maps.append(map) }
        }
        // The checkouts are next to the triple's directory: .build/checkouts, .build/<triple>/debug.
        let checkouts = buildDirectory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("checkouts")
        if let walker = files.enumerator(atPath: checkouts.path) {
            while let path = walker.nextObject() as? String {
                if path.hasSuffix("include/module.modulemap") { maps.append(checkouts.appendingPathComponent(path).path) }
            }
        }
        return maps
    }()

    /// Compiles `source` (after `import ArrayTransport`) through SIL diagnostics; the exit status and output.
    func compile(_ source: String) throws -> ProcessRun {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("aqt-misuse-\(getpid())-\(UUID().uuidString.prefix(8)).swift")
        try ("import ArrayQueues\nimport ArrayTransport\n" + source).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var arguments = ["swiftc", "-emit-sil", "-o", "/dev/null", "-swift-version", "6", "-I", Self.buildDirectory.appendingPathComponent("Modules").path]
        for map in Self.moduleMaps {
            arguments += ["-Xcc", "-fmodule-map-file=\(map)", "-Xcc", "-I", "-Xcc", URL(fileURLWithPath: map).deletingLastPathComponent().path]
        }
        arguments.append(file.path)
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
                _ = try receiver.receive(timeout: .zero) { message in kept = .some(message) }
                _ = kept
            }
            """)
        #expect(keptMessage.status != 0)
        #expect(keptMessage.errors.contains("'message' is borrowed and cannot be consumed"), "\(keptMessage.errors)")
    }
}
