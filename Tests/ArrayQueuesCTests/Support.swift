import CArrayQueuesC
import ArrayQueuesTestSupport
import Foundation
import Testing

/// Builds and runs C programs against the library as a C user would: a prefix with
/// `include/arrayqueues.h`, `lib/libArrayQueuesC.so` and `lib/pkgconfig/arrayqueues.pc`
/// (filled from the same template `scripts/c-library` uses), then
/// `cc PROGRAM.c $(pkg-config --cflags --libs arrayqueues)`.
enum CToolchain {
    /// The package's root directory.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build directory holding this test bundle and the library.
    static let buildDirectory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    /// The library this build made. `swift build --build-tests` does not link it (it is a
    /// product); `swift build --product ArrayQueuesC` does, and `scripts/test` runs both.
    static var library: URL { buildDirectory.appendingPathComponent("libArrayQueuesC.so") }

    /// Fails unless the library exists and is newer than every object file it is made of
    /// (a stale library would test old code).
    static func requireLibrary() throws {
        let files = FileManager.default
        func modified(_ path: String) -> Date? { (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date }
        let objects = ["CArrayQueuesC", "ArrayQueuesC", "ArrayQueues", "ArrayTransport"].flatMap { target -> [String] in
            let directory = buildDirectory.appendingPathComponent("\(target).build").path
            return ((try? files.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".o") }.map { "\(directory)/\($0)" }
        }
        let newest = objects.compactMap(modified).max() ?? .distantPast
        guard let built = modified(library.path), built >= newest else {
            throw LibraryMissing(description: "\(library.path) is missing or older than its object files: run `swift build --product ArrayQueuesC` after `swift build --build-tests` (scripts/test does)")
        }
    }

    struct LibraryMissing: Error, CustomStringConvertible {
        let description: String
    }

    /// A fresh prefix with the library installed into it (the library by symlink: it is the
    /// one this build made).
    static func makePrefix() throws -> URL {
        try requireLibrary()
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("aq-c-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let lib = prefix.appendingPathComponent("lib"), include = prefix.appendingPathComponent("include")
        try FileManager.default.createDirectory(at: lib.appendingPathComponent("pkgconfig"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: include, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: lib.appendingPathComponent("libArrayQueuesC.so"), withDestinationURL: library)
        try FileManager.default.copyItem(
            at: packageRoot.appendingPathComponent("Sources/CArrayQueuesC/include/arrayqueues.h"),
            to: include.appendingPathComponent("arrayqueues.h"))
        let template = try String(contentsOf: packageRoot.appendingPathComponent("Sources/CArrayQueuesC/arrayqueues.pc.in"), encoding: .utf8)
        let pc = template.replacingOccurrences(of: "@PREFIX@", with: prefix.path)
            .replacingOccurrences(of: "@LIBDIR@", with: lib.path)
            .replacingOccurrences(of: "@INCLUDEDIR@", with: include.path)
            .replacingOccurrences(of: "@VERSION@", with: AQ_VERSION)
        try pc.write(to: lib.appendingPathComponent("pkgconfig/arrayqueues.pc"), atomically: true, encoding: .utf8)
        return prefix
    }

    /// Runs a shell command with `PKG_CONFIG_PATH` pointing into `prefix`.
    static func shell(_ command: String, prefix: URL, timeout: Double) throws -> ProcessRun {
        try runProcess("/usr/bin/env", ["PKG_CONFIG_PATH=\(prefix.path)/lib/pkgconfig", "/bin/sh", "-c", command], timeout: timeout)
    }

    /// Compiles `source` (a path relative to the package root) into an executable in
    /// `prefix`, with every warning an error; returns its path.
    static func compile(_ source: String, prefix: URL, extraFlags: String = "") throws -> (path: String, run: ProcessRun) {
        let output = prefix.appendingPathComponent(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent).path
        let input = packageRoot.appendingPathComponent(source).path
        let run = try shell(
            "cc -std=c11 -Wall -Wextra -Werror \(extraFlags) -o '\(output)' '\(input)' $(pkg-config --cflags --libs arrayqueues)",
            prefix: prefix, timeout: 120)
        return (output, run)
    }

    /// Compiles `source` (a path relative to the package root) against a fresh prefix, runs it
    /// with the arguments `arguments` makes of that prefix, and removes the prefix; the test
    /// fails here if the program does not compile.
    static func compileAndRun(
        _ source: String, extraFlags: String = "", timeout: Double, arguments: (URL) -> [String] = { _ in [] }
    ) throws -> ProcessRun {
        let prefix = try makePrefix()
        defer { try? FileManager.default.removeItem(at: prefix) }
        let (program, build) = try compile(source, prefix: prefix, extraFlags: extraFlags)
        try #require(build.status == 0, "cc failed: \(build.errors)")
        return try runProcess(program, arguments(prefix), timeout: timeout)
    }

    /// Compiles and runs a test program built on `c/check.h` and expects every check of it to
    /// have passed: exit status 0, its summary line with 0 failures, no FAIL line. Returns its
    /// output.
    @discardableResult
    static func runCheckedProgram(_ source: String, _ arguments: [String] = [], extraFlags: String = "", timeout: Double) throws -> String {
        let run = try compileAndRun(source, extraFlags: extraFlags, timeout: timeout) { _ in arguments }
        let name = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        #expect(run.status == 0, "\(run.output)\n\(run.errors)")
        #expect(run.output.contains("\(name): ") && run.output.contains(", 0 failures"), "\(run.output)")
        #expect(!run.errors.contains("FAIL"), "\(run.errors)")
        return run.output
    }
}
