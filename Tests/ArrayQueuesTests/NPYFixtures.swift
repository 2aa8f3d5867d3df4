import ArrayQueuesTestSupport
import Foundation
import Glibc
import Testing
@testable import ArrayQueues

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

    /// The folder of the numpy scripts these tests run.
    static let pythonDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python")

    /// Runs `python/SCRIPT arguments…` with python3 and numpy (at most 120 s); returns its
    /// standard output.
    static func runNumpyScript(_ script: String, _ arguments: String...) throws -> String {
        let run = try runPython([pythonDirectory.appendingPathComponent(script).path] + arguments, timeout: 120)
        guard !run.timedOut else { throw PythonError(description: "python3 \(script) did not finish within 120 s") }
        guard run.status == 0 else {
            if run.errors.contains("No module named 'numpy'") || run.errors.contains("No such file or directory") {
                let reason = run.errors.split(separator: "\n").last.map(String.init) ?? run.errors
                throw PythonError(description: "python3 with numpy is required for the numpy interop tests (CI installs it; pip install numpy): \(reason)")
            }
            throw PythonError(description: "python3 \(script) exited with status \(run.status): \(run.errors)")
        }
        return run.output
    }
}
