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
            let output = try NPYFixtures.runNumpyScript("npy_write_cases.py", dtype.name, directory.path)
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
            _ = try NPYFixtures.runNumpyScript("npy_write_versions.py", directory.path)
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
            let output = try NPYFixtures.runNumpyScript("npy_check_swift_files.py", directory.path, String(shapes.count))
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
    @Test("reads from a pipe", .timeLimit(.minutes(10)))
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
