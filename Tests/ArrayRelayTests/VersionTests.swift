import AQCommandLine
import CArrayQueuesC
import Foundation
import Testing

/// The version has one definition (`AQ_VERSION` in arrayqueues.h): `aq --version`,
/// `aq-relay --version`, the C library's `aq_version()` and CHANGELOG.md's latest release agree.
@Suite struct VersionTests {
    static let executables = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()

    static func version(of tool: String) throws -> String {
        let process = Process()
        process.executableURL = executables.appendingPathComponent(tool)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { process.terminate() }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("aq, aq-relay and aq_version() print AQ_VERSION")
    func agree() throws {
        let c = String(cString: aq_version())
        #expect(c == AQ_VERSION)
        #expect(arrayQueuesVersion == AQ_VERSION)
        #expect(try Self.version(of: "aq") == c)
        #expect(try Self.version(of: "aq-relay") == c)
        #expect(c.split(separator: ".").count == 3 && c.split(separator: ".").allSatisfy { Int($0) != nil })
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the Python package, which has to state its version in its own files, states AQ_VERSION")
    func python() throws {
        let project = try String(contentsOf: Self.root.appendingPathComponent("python/pyproject.toml"), encoding: .utf8)
        #expect(project.contains("\nversion = \"\(AQ_VERSION)\"\n"))
        let module = try String(contentsOf: Self.root.appendingPathComponent("python/src/arrayqueues_swift/__init__.py"), encoding: .utf8)
        #expect(module.contains("__version__ = \"\(AQ_VERSION)\""))
    }

    @Test("CHANGELOG.md's latest release is AQ_VERSION")
    func changelog() throws {
        let root = Self.root
        let text = try String(contentsOf: root.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let release = text.split(separator: "\n").first { $0.hasPrefix("## [") && !$0.hasPrefix("## [Unreleased]") }
        #expect(release?.hasPrefix("## [\(AQ_VERSION)]") == true, "\(release ?? "no release heading")")
    }
}
