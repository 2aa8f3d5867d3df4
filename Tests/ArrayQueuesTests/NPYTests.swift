import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing
@testable import ArrayQueues

/// `.npy` reading and writing: against numpy itself (python3 with numpy must be installed; these
/// tests fail, not skip, without it), on hand-made broken files, and on random mutations.
@Suite("NPY")
struct NPYTests {
    // MARK: numpy → Swift

    /// numpy writes scalars, empty arrays, extremes, NaN and infinities; Swift reads them bit for
    /// bit and encodes exactly the bytes numpy wrote.
    @Test("reads what numpy writes", arguments: DType.allCases)
    func readsNumpyFiles(dtype: DType) throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            let output = try NPYFixtures.runPython(NPYFixtures.writeCasesScript, dtype.name, directory.path)
            let count = try #require(Int(output.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(count >= 8)
            for index in 0..<count {
                let expected = try NPYFixtures.expectedCase(directory, "\(index)", dtype: dtype)
                let path = directory.appendingPathComponent("\(index).npy").path
                let array = try NPY.read(contentsOf: path)
                #expect(array == expected, "case \(index): \(array) != \(expected)")
                let file = try NPYFixtures.contents(of: path)
                #expect(try NPYFixtures.decode(file).get() == expected, "case \(index)")
                #expect(NPY.encode(array) == file, "case \(index): Swift's encoding differs from numpy's")
            }
        }
    }

    /// numpy's `write_array` with explicit versions 1.0, 2.0 and 3.0 (UTF-8 header).
    @Test("reads numpy format versions 1.0, 2.0 and 3.0")
    func readsNumpyVersions() throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            _ = try NPYFixtures.runPython(NPYFixtures.writeVersionsScript, directory.path)
            for dtype in DType.allCases {
                for version in [1, 2, 3] {
                    let name = "\(dtype.name)-v\(version)"
                    let path = directory.appendingPathComponent("\(name).npy").path
                    let file = try NPYFixtures.contents(of: path)
                    #expect(file.count > 7 && file[6] == UInt8(version), "\(name) is not a version \(version) file")
                    let expected = try NPYFixtures.expectedCase(directory, name, dtype: dtype)
                    #expect(try NPY.read(contentsOf: path) == expected, "\(name)")
                }
            }
        }
    }

    // MARK: Swift → numpy

    /// Swift writes every dtype in several shapes; numpy loads each and checks dtype, shape, bytes,
    /// and that `np.save` would have written the same file.
    @Test("numpy reads what Swift writes", arguments: DType.allCases)
    func numpyReadsSwiftFiles(dtype: DType) throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            var random = SplitMix(seed: UInt64(dtype.rawValue))
            let shapes: [[Int]] = [[2, 3], [], [0, 3], [7], [2, 3, 4], [1, 1, 1, 1], [3, 0], [300]]
            for (index, shape) in shapes.enumerated() {
                let array = try NPYFixtures.randomArray(dtype: dtype, shape: shape, using: &random)
                let base = directory.appendingPathComponent("\(index)")
                try NPY.write(array, to: base.appendingPathExtension("npy").path)
                try array.withUnsafeBytes { try Data($0).write(to: base.appendingPathExtension("bin")) }
                let meta = dtype.typestr + "\n" + shape.map(String.init).joined(separator: " ")
                try Data(meta.utf8).write(to: base.appendingPathExtension("meta"))
            }
            let output = try NPYFixtures.runPython(NPYFixtures.checkSwiftFilesScript, directory.path, String(shapes.count))
            #expect(output.contains("ok \(shapes.count)"))
        }
    }

    // MARK: Malformed files

    /// Every proper prefix of a valid file is an error, from memory and from a file.
    @Test("truncated at every length")
    func truncatedFiles() throws {
        let arrays = [
            try NDArray<Float>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6]).erased,
            try NDArray<UInt8>(shape: [], elements: [7]).erased,
        ]
        try NPYFixtures.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("truncated.npy").path
            for array in arrays {
                let file = NPY.encode(array)
                #expect(try NPYFixtures.decode(file).get() == array)
                for length in 0..<file.count {
                    let prefix = Array(file[..<length])
                    NPYFixtures.expectError(NPYFixtures.decode(prefix), .invalidNPY, "\(array) cut to \(length) bytes")
                    try Data(prefix).write(to: URL(fileURLWithPath: path))
                    NPYFixtures.expectError(NPYFixtures.read(path), .invalidNPY, "file of \(array) cut to \(length) bytes")
                }
                let longer = file + [0]
                NPYFixtures.expectError(NPYFixtures.decode(longer), .invalidNPY, "\(array) with an extra byte")
                try Data(longer).write(to: URL(fileURLWithPath: path))
                NPYFixtures.expectError(NPYFixtures.read(path), .invalidNPY, "file of \(array) with an extra byte")
            }
        }
    }

    @Test("rejects broken files with a clear error", arguments: NPYFixtures.malformedCases)
    func malformed(_ example: NPYFixtures.Example) throws {
        let result = NPYFixtures.decode(example.bytes)
        NPYFixtures.expectError(result, example.code, example.name)
        if case .failure(let error) = result, let text = example.messageContains {
            #expect(error.message.contains(text), "\(example.name): \(error.message)")
        }
        try NPYFixtures.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("broken.npy").path
            try Data(example.bytes).write(to: URL(fileURLWithPath: path))
            NPYFixtures.expectError(NPYFixtures.read(path), example.code, "\(example.name), from a file")
        }
    }

    @Test("accepts every spelling of a valid header", arguments: NPYFixtures.validVariants)
    func validVariant(_ example: NPYFixtures.Example) throws {
        let array = try NPYFixtures.decode(example.bytes).get()
        #expect(array.dtype == .float32 || array.dtype == .uint8, "\(example.name)")
        #expect(array.shape == [2, 3], "\(example.name)")
        #expect(array.withUnsafeBytes { Array($0) } == Array(NPYFixtures.payload.prefix(array.byteCount)), "\(example.name)")
    }

    /// A header longer than 65535 bytes needs format 2.0; nothing numpy can write for our dtypes
    /// gets there, so the framing is tested directly.
    @Test("writes format 2.0 for a long header")
    func longHeaderUsesVersion2() throws {
        let dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + String(repeating: " ", count: 70_000)
        let header = NPY.wrapHeader(Array(dictionary.utf8))
        #expect(header[6] == 2 && header[7] == 0)
        #expect(header.count % 64 == 0)
        #expect(header.last == 0x0A)
        let array = try NPYFixtures.decode(header + NPYFixtures.payload).get()
        #expect(array.shape == [2, 3] && array.dtype == .float32)
        #expect(NPY.encodeHeader(dtype: .float32, shape: [2, 3])[6] == 1)
    }

    // MARK: Random mutations

    /// Random byte flips, splices of header syntax, deletions and truncations of valid files:
    /// decoding either succeeds or throws `ArrayQueueError`, quickly.
    @Test("survives random mutations", .timeLimit(.minutes(2)))
    func mutations() throws {
        let corpus: [[UInt8]] = try [
            NPY.encode(NDArray<Float>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6]).erased),
            NPY.encode(NDArray<UInt8>(shape: [], elements: [9]).erased),
            NPY.encode(AnyNDArray(dtype: .complex128, shape: [0, 3], copying: UnsafeRawBufferPointer(start: nil, count: 0))),
            NPY.encode(NDArray<Int16>(shape: [5], elements: [-1, 0, 1, .min, .max]).erased),
            NPY.encode(NDArray<Bool>(shape: [2, 2, 2], repeating: true).erased),
            NPYFixtures.file("{'shape':(2,3),'descr':'<f4','fortran_order':False}", version: 3, payload: NPYFixtures.payload),
        ]
        let tokens = [
            "(", ")", ",", "'", "\"", ":", "{", "}", "[", "]", " ", "\n", "\t", "True", "False", "-",
            "0", "7", "99999999999999999999", "4611686018427387904", "'descr'", "'shape'", "'<f8'", "'>f4'",
            "'|O'", "(1,)", "L", "\u{FF}", "\u{0}", "\\", "é",
        ].map { Array($0.utf8) }
        var random = SplitMix(seed: 0x5EED_0F_4E50)
        var (successes, failures) = (0, 0)
        let clock = ContinuousClock()
        let start = clock.now
        for iteration in 0..<2000 {
            var bytes = corpus[Int.random(in: 0..<corpus.count, using: &random)]
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                NPYFixtures.mutate(&bytes, tokens: tokens, using: &random)
            }
            switch NPYFixtures.decode(bytes) {
            case .success(let array):
                successes += 1
                #expect(try NPYFixtures.decode(NPY.encode(array)).get() == array)
            case .failure(let error):
                failures += 1
                #expect([.invalidNPY, .invalidShape, .unsupportedDType].contains(error.code), "\(error)")
                #expect(!error.message.isEmpty)
            }
            if iteration % 100 == 0 {
                try NPYFixtures.withTemporaryDirectory { directory in
                    let path = directory.appendingPathComponent("mutant.npy").path
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    if case .failure(let error) = NPYFixtures.read(path) {
                        #expect(error.code != .systemCall, "\(error)")
                    }
                }
            }
        }
        #expect(successes > 0 && failures > 0, "\(successes) decoded, \(failures) rejected")
        #expect(clock.now - start < .seconds(60))
    }

    // MARK: Files

    @Test("write replaces a file atomically and leaves no temporary file")
    func atomicWrite() throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("a.npy").path
            let first = try NDArray<Double>(shape: [2], elements: [1, 2]).erased
            let second = try NDArray<Int32>(shape: [3, 1], elements: [4, 5, 6]).erased
            try NPY.write(first, to: path)
            #expect(try NPY.read(contentsOf: path) == first)
            try NPY.write(second, to: path)
            #expect(try NPY.read(contentsOf: path) == second)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.npy"])

            // From raw bytes, as `aq get -o` writes a record straight from shared memory.
            let bytes: [UInt8] = [1, 2, 3, 4, 5, 6]
            try bytes.withUnsafeBytes { try NPY.write(dtype: .uint8, shape: [2, 3], bytes: $0, to: path) }
            #expect(try NPY.read(contentsOf: path) == NDArray<UInt8>(shape: [2, 3], elements: bytes).erased)
            let wrongSize = bytes.withUnsafeBytes { raw in
                Result { () throws(ArrayQueueError) in try NPY.write(dtype: .uint16, shape: [2, 3], bytes: raw, to: path) }
            }
            NPYFixtures.expectError(wrongSize, .invalidShape, "6 bytes for 6 uint16s")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.npy"])
        }
    }

    @Test("file errors name the C call and errno")
    func fileErrors() throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            let array = try NDArray<Float>(shape: [1], elements: [1]).erased
            let missing = directory.appendingPathComponent("missing/a.npy").path
            guard case .failure(let writeError) = Result(catching: { () throws(ArrayQueueError) in try NPY.write(array, to: missing) }) else {
                Issue.record("writing into a missing directory succeeded")
                return
            }
            #expect(writeError.code == .systemCall && writeError.function == "open" && writeError.errno == .noSuchFileOrDirectory, "\(writeError)")

            guard case .failure(let readError) = NPYFixtures.read(missing) else {
                Issue.record("reading a missing file succeeded")
                return
            }
            #expect(readError.code == .systemCall && readError.function == "open" && readError.errno == .noSuchFileOrDirectory, "\(readError)")

            guard case .failure(let directoryError) = NPYFixtures.read(directory.path) else {
                Issue.record("reading a directory succeeded")
                return
            }
            #expect(directoryError.code == .systemCall && directoryError.errno == .isDirectory, "\(directoryError)")

            let empty = Result { () throws(ArrayQueueError) in try NPY.write(array, to: "") }
            NPYFixtures.expectError(empty, .invalidArgument, "empty path")
        }
    }

    /// A pipe has no size to check against; it is read to its end and then decoded.
    @Test("reads from a pipe", .timeLimit(.minutes(1)))
    func readsFIFO() throws {
        try NPYFixtures.withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("fifo.npy").path
            #expect(mkfifo(path, 0o600) == 0)
            let array = try NDArray<Int64>(shape: [2, 2], elements: [.min, -1, 0, .max]).erased
            let file = NPY.encode(array)
            let writer = Thread {
                let fd = Glibc.open(path, O_WRONLY)
                guard fd >= 0 else { return }
                _ = file.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                Glibc.close(fd)
            }
            writer.start()
            #expect(try NPY.read(contentsOf: path) == array)
        }
    }
}

// MARK: - Fixtures

enum NPYFixtures {
    /// A named file and what decoding it must give.
    struct Example: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let code: ArrayQueueError.Code
        let messageContains: String?
        var testDescription: String { name }
    }

    /// Six float32s (1...6), the data of the hand-made `(2, 3)` files.
    static let payload: [UInt8] = [Float(1), 2, 3, 4, 5, 6].flatMap { value in
        withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }

    /// A `.npy` file with `header` as its dictionary, padded as numpy pads.
    static func file(_ header: String, version: UInt8 = 1, payload: [UInt8] = payload) -> [UInt8] {
        file(header: Array(header.utf8), version: version, payload: payload)
    }

    static func file(header: [UInt8], version: UInt8 = 1, padTo alignment: Int = 64, payload: [UInt8] = payload) -> [UInt8] {
        let lengthSize = version == 1 ? 2 : 4
        var text = header
        while (8 + lengthSize + text.count + 1) % alignment != 0 { text.append(0x20) }
        text.append(0x0A)
        var bytes = NPY.magic + [version, 0]
        for index in 0..<lengthSize { bytes.append(UInt8(truncatingIfNeeded: text.count >> (8 * index))) }
        return bytes + text + payload
    }

    static func header(descr: String = "'<f4'", fortran: String = "False", shape: String = "(2, 3)") -> String {
        "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }"
    }

    static let malformedCases: [Example] = {
        let valid = file(header())
        func example(_ name: String, _ bytes: [UInt8], _ code: ArrayQueueError.Code = .invalidNPY, _ text: String? = nil) -> Example {
            Example(name: name, bytes: bytes, code: code, messageContains: text)
        }
        func withHeader(_ name: String, _ header: String, _ code: ArrayQueueError.Code = .invalidNPY, _ text: String? = nil) -> Example {
            example(name, file(header), code, text)
        }
        var wrongMagic = valid
        wrongMagic[5] = UInt8(ascii: "Z")
        var lengthBeyondFile = valid
        lengthBeyondFile[8] = 0xFF
        lengthBeyondFile[9] = 0xFF
        var version4 = valid
        version4[6] = 4
        var version11 = valid
        version11[7] = 1
        var hugeVersion2 = file(header(), version: 2)
        hugeVersion2.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
        let thirtyThree = "(" + String(repeating: "1, ", count: 33) + ")"
        return [
            example("empty file", [], .invalidNPY, "truncated"),
            example("wrong magic", wrongMagic, .invalidNPY, "magic"),
            example("text file", Array("hello, world\n".utf8), .invalidNPY, "magic"),
            example("npz archive", [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 60), .invalidNPY, "npz"),
            example("version 4.0", version4, .invalidNPY, "version 4.0"),
            example("version 1.1", version11, .invalidNPY, "version 1.1"),
            example("header length beyond the file", lengthBeyondFile, .invalidNPY, "truncated"),
            example("4 GB version 2.0 header", hugeVersion2, .invalidNPY, "truncated"),
            withHeader("shape claims more data", header(shape: "(3, 3)"), .invalidNPY, "truncated"),
            withHeader("shape claims less data", header(shape: "(1,)"), .invalidNPY, "more than its header"),
            withHeader("huge shape, small file", header(shape: "(1000000000000,)"), .invalidNPY, "truncated"),
            withHeader("Fortran order", header(fortran: "True"), .invalidNPY, "Fortran-order arrays are not supported; save with np.ascontiguousarray"),
            withHeader("big-endian", header(descr: "'>f4'"), .unsupportedDType, "big-endian dtype '>f4'"),
            withHeader("object dtype", header(descr: "'|O'"), .unsupportedDType, "'|O'"),
            withHeader("structured dtype", header(descr: "[('a', '<f4'), ('b', '<i4')]"), .unsupportedDType, "[('a', '<f4'), ('b', '<i4')]"),
            withHeader("unicode string dtype", header(descr: "'<U5'"), .unsupportedDType, "<U5"),
            withHeader("datetime dtype", header(descr: "'<M8[ns]'"), .unsupportedDType, "<M8[ns]"),
            withHeader("float128", header(descr: "'<f16'"), .unsupportedDType, "<f16"),
            withHeader("control character in descr", header(descr: "'\u{1}f4'"), .unsupportedDType, "\\x01f4"),
            withHeader("33 dimensions", header(shape: thirtyThree), .invalidShape, "32"),
            withHeader("element count overflow", header(shape: "(4611686018427387904, 4611686018427387904)"), .invalidShape),
            withHeader("byte count overflow", header(shape: "(4611686018427387904,)"), .invalidShape),
            withHeader("extent beyond Int", header(shape: "(99999999999999999999999,)"), .invalidShape, "99999999999999999999999"),
            withHeader("negative extent", header(shape: "(-1, 3)"), .invalidShape, "negative"),
            withHeader("shape is an int", header(shape: "6"), .invalidNPY, "tuple"),
            withHeader("shape (6) without comma", header(shape: "(6)"), .invalidNPY, "(6,)"),
            withHeader("shape is a list", header(shape: "[2, 3]"), .invalidNPY, "tuple"),
            withHeader("float extent", header(shape: "(2.0, 3)"), .invalidNPY, "integer"),
            withHeader("bool extent", header(shape: "(True, 3)"), .invalidNPY, "integer"),
            withHeader("leading zero", header(shape: "(02, 3)"), .invalidNPY, "leading zeros"),
            withHeader("empty tuple element", header(shape: "(2,, 3)"), .invalidNPY),
            withHeader("unclosed shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3", .invalidNPY),
            withHeader("missing key", "{'descr': '<f4', 'shape': (2, 3), }", .invalidNPY, "fortran_order"),
            withHeader("extra key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", .invalidNPY, "'x'"),
            withHeader("duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", .invalidNPY, "twice"),
            withHeader("not a dict", "[1, 2, 3]", .invalidNPY, "'{'"),
            withHeader("empty header", "", .invalidNPY),
            withHeader("empty dict", "{}", .invalidNPY, "descr"),
            withHeader("unterminated dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),", .invalidNPY),
            withHeader("unterminated string", "{'descr': '<f4", .invalidNPY, "unterminated"),
            withHeader("escape in string", header(descr: "'<f\\x34'"), .invalidNPY, "escape"),
            withHeader("text after the dict", header() + " 42", .invalidNPY, "after"),
            withHeader("two commas", "{'descr': '<f4',, 'fortran_order': False, 'shape': (2, 3)}", .invalidNPY),
            withHeader("descr is a number", header(descr: "4"), .invalidNPY, "descr"),
            withHeader("fortran_order is a string", header(fortran: "'False'"), .invalidNPY, "True or False"),
            withHeader("fortran_order is Falsey", header(fortran: "Falsey"), .invalidNPY, "True or False"),
            withHeader("deeply nested descr", header(descr: String(repeating: "[", count: 10_000)), .invalidNPY, "nested"),
            withHeader("unbalanced descr", header(descr: "[('a', '<f4'])"), .invalidNPY, "unbalanced"),
            example("NUL header", file(header: [UInt8](repeating: 0, count: 60)), .invalidNPY, "\\x00"),
            example("non-ASCII junk", file(header: [0xFF, 0xFE, 0x80, 0x93, 0xC3, 0x28] + Array("{'descr'".utf8)), .invalidNPY, "\\xff"),
            example("Latin-1 key", file(header: Array("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), '".utf8) + [0xE9] + Array("': 1}".utf8)), .invalidNPY, "unexpected key"),
            example("invalid UTF-8 in a 3.0 header", file(header: Array("{'descr': '<f4".utf8) + [0xFF] + Array("'}".utf8), version: 3), .invalidNPY, "UTF-8"),
            example("Python 2 long in a 3.0 header", file(header(shape: "(2L, 3L)"), version: 3), .invalidNPY, "integer"),
        ]
    }()

    static let validVariants: [Example] = {
        func valid(_ name: String, _ bytes: [UInt8]) -> Example {
            Example(name: name, bytes: bytes, code: .invalidNPY, messageContains: nil)
        }
        return [
            valid("numpy's own", file(header())),
            valid("keys in another order", file("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}")),
            valid("double quotes, no trailing comma", file(#"{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}"#)),
            valid("whitespace everywhere", file("\n{ 'descr' :\t'<f4' ,\n 'fortran_order' : False , 'shape' : ( 2 ,\r\n 3 , ) , }  \n\n")),
            valid("no whitespace", file("{'descr':'<f4','fortran_order':False,'shape':(2,3)}")),
            valid("Python 2 longs", file(header(shape: "(2L, 3L)"))),
            valid("native byte order", file(header(descr: "'=f4'"))),
            valid("16-byte alignment of old numpy", file(header: Array(header().utf8), padTo: 16)),
            valid("big-endian single bytes", file(header(descr: "'>u1'"), payload: Array(payload.prefix(6)))),
            valid("version 2.0", file(header(), version: 2)),
            valid("version 3.0", file(header(), version: 3)),
            valid("version 3.0, no trailing comma", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", version: 3)),
        ]
    }()

    // MARK: Helpers

    static func decode(_ bytes: [UInt8]) -> Result<AnyNDArray, ArrayQueueError> {
        bytes.withUnsafeBytes { raw in Result { () throws(ArrayQueueError) in try NPY.decode(raw) } }
    }

    static func read(_ path: String) -> Result<AnyNDArray, ArrayQueueError> {
        Result { () throws(ArrayQueueError) in try NPY.read(contentsOf: path) }
    }

    static func expectError<T>(
        _ result: Result<T, ArrayQueueError>, _ code: ArrayQueueError.Code, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        switch result {
        case .success:
            Issue.record("\(what): expected an error \(code), but it succeeded", sourceLocation: sourceLocation)
        case .failure(let error):
            #expect(error.code == code, "\(what): \(error)", sourceLocation: sourceLocation)
        }
    }

    static func contents(of path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The array numpy described with `NAME.bin` (its `tobytes()`) and `NAME.shape`.
    static func expectedCase(_ directory: URL, _ name: String, dtype: DType) throws -> AnyNDArray {
        let bytes = try contents(of: directory.appendingPathComponent("\(name).bin").path)
        let shapeText = try String(contentsOf: directory.appendingPathComponent("\(name).shape"), encoding: .utf8)
        let shape = shapeText.split(separator: " ").compactMap { Int($0) }
        return try bytes.withUnsafeBytes { try AnyNDArray(dtype: dtype, shape: shape, copying: $0) }
    }

    static func randomArray(dtype: DType, shape: [Int], using random: inout SplitMix) throws -> AnyNDArray {
        try AnyNDArray(dtype: dtype, shape: shape) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
            for index in bytes.indices {
                // Any bits are a valid number, but only 0 and 1 are valid bools.
                bytes[index] = dtype == .bool ? UInt8.random(in: 0...1, using: &random) : UInt8.random(in: .min ... .max, using: &random)
            }
        }
    }

    static func mutate(_ bytes: inout [UInt8], tokens: [[UInt8]], using random: inout SplitMix) {
        guard !bytes.isEmpty else { return }
        let headerEnd = min(bytes.count, 10 + (bytes.count > 9 ? Int(bytes[8]) | Int(bytes[9]) << 8 : 0))
        switch Int.random(in: 0..<7, using: &random) {
        case 0:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1:
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: .min ... .max, using: &random)
        case 2, 3:
            // Splice header syntax into the header, usually keeping the header length right so
            // that the mutation reaches the parser.
            let token = tokens[Int.random(in: 0..<tokens.count, using: &random)]
            let position = Int.random(in: min(10, headerEnd)...headerEnd, using: &random)
            let removed = Int.random(in: 0...min(2, headerEnd - position), using: &random)
            bytes.replaceSubrange(position..<(position + removed), with: token)
            if bytes.count > 9, bytes[6] == 1, Int.random(in: 0..<4, using: &random) != 0 {
                let length = (Int(bytes[8]) | Int(bytes[9]) << 8) + token.count - removed
                bytes[8] = UInt8(truncatingIfNeeded: length)
                bytes[9] = UInt8(truncatingIfNeeded: length >> 8)
            }
        case 4:
            let start = Int.random(in: 0..<bytes.count, using: &random)
            bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...8, using: &random)))
        case 5:
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
        default:
            if bytes.count > 9 {
                bytes[8 + Int.random(in: 0...1, using: &random)] = UInt8.random(in: .min ... .max, using: &random)
            }
        }
    }

    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("npy-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    // MARK: Python

    struct PythonError: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a Python script with python3 and numpy; returns its standard output.
    static func runPython(_ script: String, _ arguments: String...) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("npy-python-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdout.close()
            try? stderr.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PythonError(description: "cannot run /usr/bin/env python3: \(error); the numpy interop tests need python3 with numpy")
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                process.waitUntilExit()
                throw PythonError(description: "python3 did not finish within 120 s")
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        let output = String(decoding: try Data(contentsOf: stdoutURL), as: UTF8.self)
        let errors = String(decoding: try Data(contentsOf: stderrURL), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            if errors.contains("No module named 'numpy'") || errors.contains("No such file or directory") {
                let reason = errors.split(separator: "\n").last.map(String.init) ?? errors
                throw PythonError(description: "python3 with numpy is required for the numpy interop tests (CI installs it; pip install numpy): \(reason)")
            }
            throw PythonError(description: "python3 exited with status \(process.terminationStatus): \(errors)")
        }
        return output
    }

    /// argv: dtype name, output directory. Writes N.npy, N.bin (tobytes) and N.shape; prints N.
    static let writeCasesScript = #"""
    import sys
    import numpy as np
    name, out = sys.argv[1], sys.argv[2]
    dt = np.dtype(name)
    if dt.kind == 'b':
        base = np.array([[True, False, True], [False, False, True]])
    elif dt.kind in 'iu':
        i = np.iinfo(dt)
        base = np.array([[i.min, i.max, 0], [1, i.max - 1, i.min + 1], [i.max // 2, -1 if dt.kind == 'i' else 200, 42]], dtype=dt)
    elif dt.kind == 'f':
        f = np.finfo(dt)
        base = np.array([[np.nan, np.inf, -np.inf], [-0.0, f.tiny, f.max], [f.min, f.eps, -1.5], [-np.nan, 1e-3, 65504 if dt.itemsize == 2 else 1e30]], dtype=dt)
    else:
        f = np.finfo(dt)
        base = np.array([[complex(np.nan, 1), complex(np.inf, -np.inf)], [complex(-0.0, 2.5), complex(f.max, f.tiny)], [complex(-1, -np.nan), complex(f.min, -f.eps)]], dtype=dt)
    rng = np.random.default_rng(7)
    if dt.kind == 'b':
        noise = rng.integers(0, 2, size=1000).astype(dt)
    else:
        noise = rng.integers(0, 256, size=16 * 250, dtype=np.uint8).view(dt)
    cases = [
        base,
        np.array(base.flat[1], dtype=dt),
        np.zeros((0, 3), dtype=dt),
        np.zeros((4, 0, 2), dtype=dt),
        base.reshape(-1),
        np.ascontiguousarray(base.T),
        np.resize(base, (2, 3, 4, 5)),
        noise,
        np.resize(base, (1,) * 32),
    ]
    for index, a in enumerate(cases):
        assert a.dtype == dt and a.flags.c_contiguous
        np.save(f'{out}/{index}.npy', a)
        with open(f'{out}/{index}.bin', 'wb') as f:
            f.write(a.tobytes())
        with open(f'{out}/{index}.shape', 'w') as f:
            f.write(' '.join(str(n) for n in a.shape))
    print(len(cases))
    """#

    /// argv: output directory. Writes DTYPE-vN.npy with format versions 1.0, 2.0 and 3.0.
    static let writeVersionsScript = #"""
    import sys
    import numpy as np
    out = sys.argv[1]
    for name in ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
                 'float16', 'float32', 'float64', 'complex64', 'complex128']:
        a = (np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 7).astype(name)
        for version in (1, 2, 3):
            stem = f'{out}/{name}-v{version}'
            with open(stem + '.npy', 'wb') as f:
                np.lib.format.write_array(f, a, version=(version, 0))
            with open(stem + '.bin', 'wb') as f:
                f.write(a.tobytes())
            with open(stem + '.shape', 'w') as f:
                f.write(' '.join(str(n) for n in a.shape))
    """#

    /// argv: directory, count. Loads N.npy and checks it against N.bin and N.meta.
    static let checkSwiftFilesScript = #"""
    import io, sys
    import numpy as np
    out, count = sys.argv[1], int(sys.argv[2])
    for index in range(count):
        path = f'{out}/{index}.npy'
        a = np.load(path)
        typestr, shape = open(f'{out}/{index}.meta').read().split('\n')
        shape = tuple(int(n) for n in shape.split())
        assert a.dtype == np.dtype(typestr), (index, a.dtype, typestr)
        assert a.shape == shape, (index, a.shape, shape)
        assert a.flags.c_contiguous, index
        assert a.tobytes() == open(f'{out}/{index}.bin', 'rb').read(), (index, 'data differs')
        saved = io.BytesIO()
        np.save(saved, a)
        assert saved.getvalue() == open(path, 'rb').read(), (index, 'np.save writes other bytes')
    print('ok', count)
    """#
}
