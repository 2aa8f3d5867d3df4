import ArrayQueuesTestSupport
import Foundation
import Testing

/// The C library stays free of Foundation. Its release build links the Swift runtime statically,
/// and it shrank from about 60 MB to 10.5 MB once no module linked into it imported Foundation
/// (issue 11); one `import Foundation` anywhere in its dependency graph would bring that back.
///
/// The check reads the debug library this build made (which `CProgramTests` use too) rather
/// than the sources: it covers every module the linker put into it, the package's and its
/// dependencies' alike, with no list of targets to keep up to date. In a debug build the Swift
/// runtime is linked dynamically, and the linker records every library an object file asks
/// for (Swift object files name the libraries of the modules they import, used or not), so an
/// import shows as a `NEEDED` entry even before any Foundation symbol is used; a symbol used
/// shows as an undefined symbol of the Foundation modules too. `readelf` and `nm` come with
/// binutils, which the Swift toolchain's linker needs anyway.
@Suite
struct FoundationFreeTests {
    /// The shared libraries of Foundation's modules: Foundation, FoundationEssentials,
    /// FoundationInternationalization, FoundationNetworking, FoundationXML and _FoundationICU.
    static func foundationLibraries(neededBy path: String) throws -> [String] {
        let run = try runProcess("/usr/bin/readelf", ["--dynamic", "--wide", path], timeout: 60)
        try #require(run.status == 0, "readelf failed: \(run.errors)")
        let needed = run.output.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        try #require(!needed.isEmpty, "readelf listed no NEEDED entries for \(path): \(run.output)")
        return needed.compactMap { line in
            guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]"), open < close else { return nil }
            let library = String(line[line.index(after: open)..<close])
            return library.hasPrefix("libFoundation") || library.hasPrefix("lib_Foundation") ? library : nil
        }
    }

    /// Undefined symbols that name a Foundation module (a mangled Swift name carries each module
    /// it refers to as the name's length and the name: `10Foundation`, `20FoundationEssentials`, …).
    static func foundationSymbols(usedBy path: String) throws -> [String] {
        let run = try runProcess("/usr/bin/nm", ["--dynamic", "--undefined-only", path], timeout: 60)
        try #require(run.status == 0, "nm failed: \(run.errors)")
        let modules = ["10Foundation", "20FoundationEssentials", "31FoundationInternationalization", "20FoundationNetworking", "13FoundationXML"]
        return run.output.split(separator: "\n").map(String.init).filter { line in line.contains("$s") && modules.contains { line.contains($0) } }
    }

    @Test("libArrayQueuesC.so needs no Foundation library and uses no Foundation symbol (no module linked into it imports Foundation)")
    func libraryIsFoundationFree() throws {
        try CToolchain.requireLibrary()
        let library = CToolchain.library.path
        let libraries = try Self.foundationLibraries(neededBy: library)
        let symbols = try Self.foundationSymbols(usedBy: library)
        #expect(libraries.isEmpty && symbols.isEmpty, """
            a module linked into the C library imports Foundation (or FoundationEssentials): look for `import Foundation` in the \
            targets ArrayQueuesC depends on in Package.swift, and in their package dependencies; the release library would grow \
            by about 50 MB. Needed: \(libraries); symbols used (first 10): \(symbols.prefix(10).joined(separator: ", "))
            """)
    }

    @Test("the check sees Foundation where it is: this test bundle imports it")
    func checkFindsFoundation() throws {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        #expect(try !Self.foundationLibraries(neededBy: bundle).isEmpty)
        #expect(try !Self.foundationSymbols(usedBy: bundle).isEmpty)
    }
}
