@preconcurrency import Glibc
import SystemPackage

extension NPY {
    /// Reads a `.npy` file.
    ///
    /// The data is read straight into the new array's storage, without an intermediate copy.
    /// Regular files are checked against their size before any memory is allocated for the
    /// data, so a header that claims a huge shape cannot make this allocate it.
    ///
    /// - Throws: The errors of ``decode(_:)``, with the path in the message, and
    ///   ``ArrayQueueError/Code/systemCall`` when the file cannot be opened or read
    ///   (the C functions are `open`, `fstat`, `pread` and `read`).
    public static func read(contentsOf path: String) throws(ArrayQueueError) -> AnyNDArray {
        let file = try systemCall("open", "cannot open '\(path)' for reading") {
            try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        }
        // Closing a descriptor that was only read cannot lose data, so its errors do not matter.
        defer { try? file.close() }
        let status = try systemCall("fstat", "cannot query '\(path)'") { try file.stat() }
        do throws(ArrayQueueError) {
            guard status.type == .regular else {
                // A pipe or device has no size to check the header against: read it all first.
                let bytes = try readToEnd(file, path: path)
                return try bytes.withBytes { (bytes) throws(ArrayQueueError) in try decode(bytes) }
            }
            return try readRegularFile(file, size: Int(status.size), path: path)
        } catch where error.code != .systemCall {
            throw ArrayQueueError(error.code, "\(path): \(error.message)")
        }
    }

    private static func readRegularFile(_ file: FileDescriptor, size: Int, path: String) throws(ArrayQueueError) -> AnyNDArray {
        var start = [UInt8](repeating: 0, count: Preamble.maximumLength)
        let preambleCount = try start.withMutableBytes { (buffer) throws(ArrayQueueError) in
            try read(file, at: 0, into: buffer, path: path)
        }
        start.removeLast(start.count - preambleCount)
        let preamble = try start.withBytes { (bytes) throws(ArrayQueueError) in try Preamble(bytes) }

        // Read the rest of the header, or as much of it as the file has, so that a truncated
        // header gets the same error as from `decode`.
        let headerEnd = min(preamble.dataOffset, size)
        if headerEnd > start.count {
            let already = start.count
            start += repeatElement(0, count: headerEnd - already)
            let count = try start.withMutableBytes { (buffer) throws(ArrayQueueError) in
                try read(file, at: already, into: UnsafeMutableRawBufferPointer(rebasing: buffer[already...]), path: path)
            }
            start.removeLast(headerEnd - already - count)
        }
        let header = try start.withBytes { (bytes) throws(ArrayQueueError) in try Header.parse(bytes) }
        try header.checkReadable()
        try header.checkPayload(availableBytes: size - header.dataOffset)

        let array = try AnyNDArray(dtype: header.dtype, shape: header.shape) { (payload) throws(ArrayQueueError) in
            let count = try read(file, at: header.dataOffset, into: payload, path: path)
            try header.checkPayload(availableBytes: count) // the file shrank since `fstat`
        }
        // ... or grew.
        var extra: UInt8 = 0
        let extraCount = try withUnsafeMutableBytes(of: &extra) { (buffer) throws(ArrayQueueError) in
            try read(file, at: header.dataOffset + header.payloadByteCount, into: buffer, path: path)
        }
        try header.checkPayload(availableBytes: header.payloadByteCount + extraCount)
        return array
    }

    /// Reads from `offset` until `buffer` is full or the file ends; returns the bytes read.
    private static func read(
        _ file: FileDescriptor, at offset: Int, into buffer: UnsafeMutableRawBufferPointer, path: String
    ) throws(ArrayQueueError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = try systemCall("pread", "cannot read '\(path)'") {
                try file.read(fromAbsoluteOffset: Int64(offset + done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    private static func readToEnd(_ file: FileDescriptor, path: String) throws(ArrayQueueError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withMutableBytes { (buffer) throws(ArrayQueueError) in
                try systemCall("read", "cannot read '\(path)'") { try file.read(into: buffer) }
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }

    /// Writes a `.npy` file (atomically: to a temporary name in the same directory, then rename).
    ///
    /// Readers see either the old file or the complete new one, even after a crash: the data
    /// is flushed to disk before the rename. The file is created with mode 0666 less the umask.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidArgument`` if `path` does not name a file, and
    ///   ``ArrayQueueError/Code/systemCall`` when a C function fails
    ///   (`open`, `write`, `fsync`, `close` or `rename`).
    public static func write(_ array: AnyNDArray, to path: String) throws(ArrayQueueError) {
        try array.withUnsafeBytes { (bytes) throws(ArrayQueueError) in
            try write(dtype: array.dtype, shape: array.shape, bytes: bytes, to: path)
        }
    }

    /// Writes a `.npy` file of `dtype` and `shape` whose data is `bytes` (C order, little-endian),
    /// atomically like ``write(_:to:)``, without building an ``AnyNDArray``: for example
    /// straight from a record in shared memory.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidShape`` if the shape is invalid or `bytes` is not
    ///   its size, and the errors of ``write(_:to:)``.
    public static func write(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, to path: String) throws(ArrayQueueError) {
        let expected = try Shape.byteCount(shape, dtype: dtype)
        guard bytes.count == expected else {
            throw ArrayQueueError(.invalidShape, "\(bytes.count) bytes given for a \(dtype) array of shape \(shape), which needs \(expected)")
        }
        let target = FilePath(path)
        guard let name = target.lastComponent, name.kind == .regular else {
            throw ArrayQueueError(.invalidArgument, "'\(path)' does not name a file")
        }
        let (file, temporary) = try createTemporaryFile(in: target.removingLastComponent(), for: path)
        var isOpen = true
        do throws(ArrayQueueError) {
            let header = encodeHeader(dtype: dtype, shape: shape)
            try systemCall("write", "cannot write '\(temporary)'") {
                try file.writeAll(header)
                var done = 0
                while done < bytes.count {
                    done += try file.write(UnsafeRawBufferPointer(rebasing: bytes[done...]))
                }
            }
            try Sys.fsync(file.rawValue, path: temporary.string)
            isOpen = false
            try systemCall("close", "cannot finish writing '\(temporary)'") { try file.close() }
            try Sys.rename(temporary.string, to: path)
        } catch {
            if isOpen { try? file.close() }
            Sys.unlink(temporary.string)
            throw error
        }
    }

    /// Creates a new file with a random name in `directory`; `O_EXCL` makes the name ours alone.
    private static func createTemporaryFile(in directory: FilePath, for path: String) throws(ArrayQueueError) -> (FileDescriptor, FilePath) {
        var attempt = 0
        while true {
            let temporary = directory.appending(".aq-npy-\(String(UInt64.random(in: .min ... .max), radix: 16)).tmp")
            do {
                let file = try FileDescriptor.open(
                    temporary, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: [.ownerReadWrite, .groupReadWrite, .otherReadWrite])
                return (file, temporary)
            } catch let error as Errno where error == .fileExists && attempt < 8 {
                attempt += 1
            } catch let error as Errno {
                throw .system("open", error.rawValue, "cannot create a temporary file next to '\(path)'")
            } catch {
                throw ArrayQueueError(.systemCall, "cannot create a temporary file next to '\(path)': \(error)", function: "open")
            }
        }
    }

    /// Runs a swift-system call, turning its `Errno` into an ``ArrayQueueError`` that names `function`.
    private static func systemCall<R>(_ function: String, _ message: @autoclosure () -> String, _ body: () throws -> R) throws(ArrayQueueError) -> R {
        do {
            return try body()
        } catch let error as Errno {
            throw .system(function, error.rawValue, message())
        } catch {
            throw ArrayQueueError(.systemCall, "\(message()): \(error)", function: function)
        }
    }
}

// `Array`'s own `withUnsafe...Bytes` rethrow untyped errors.
extension [UInt8] {
    fileprivate func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(ArrayQueueError) -> R) throws(ArrayQueueError) -> R {
        try withUnsafeBytes { bytes in Result { () throws(ArrayQueueError) in try body(bytes) } }.get()
    }

    fileprivate mutating func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(ArrayQueueError) -> R) throws(ArrayQueueError) -> R {
        try withUnsafeMutableBytes { bytes in Result { () throws(ArrayQueueError) in try body(bytes) } }.get()
    }
}

// MARK: C calls for .npy files that swift-system does not wrap
