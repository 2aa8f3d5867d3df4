/// Reading and writing numpy `.npy` files.
///
/// A `.npy` file is a magic string, a format version, a little-endian header length, a header
/// that is a Python dict literal (`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`)
/// padded so that the data starts at a multiple of 64 bytes, and then the raw elements.
/// ArrayQueues reads versions 1.0, 2.0 and 3.0 of C-order, little-endian arrays of every
/// ``DType``, and writes exactly the bytes `numpy.save` writes for the same array.
///
/// ```swift
/// let array = try NPY.read(contentsOf: "frame.npy")
/// try NPY.write(array, to: "copy.npy")
/// ```
public enum NPY {
    /// The first six bytes of every `.npy` file: `\x93NUMPY`.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// numpy aligns the data to this many bytes, so that it can be memory-mapped and loaded with SIMD.
    static let alignment = 64

    /// numpy pads the header so that the first extent can be rewritten in place with up to this
    /// many digits (to append to the file along axis 0); we copy it to write identical files.
    static let growthAxisMaxDigits = 21

    /// Parses a complete `.npy` file image.
    ///
    /// The bytes are copied into the new array, which does not refer to `bytes` afterwards.
    ///
    /// - Throws: ``ArrayQueueError/Code/invalidNPY`` when the bytes are not a valid `.npy` file,
    ///   the data does not match the header, or the array is in Fortran order;
    ///   ``ArrayQueueError/Code/unsupportedDType`` for dtypes other than ``DType``'s
    ///   (big-endian, structured, object, strings, ...);
    ///   ``ArrayQueueError/Code/invalidShape`` for a shape with more than ``Shape/maxDimensions``
    ///   dimensions, a negative extent, or too many elements.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(ArrayQueueError) -> AnyNDArray {
        let header = try Header.parse(bytes)
        try header.checkReadable()
        try header.checkPayload(availableBytes: bytes.count - header.dataOffset)
        let payload = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
        return try AnyNDArray(dtype: header.dtype, shape: header.shape, copying: payload)
    }

    /// The bytes of a `.npy` file for `array` (format 1.0, or 2.0 when the header needs it).
    ///
    /// These are the bytes `numpy.save` writes for the same array.
    public static func encode(_ array: AnyNDArray) -> [UInt8] {
        var bytes = encodeHeader(dtype: array.dtype, shape: array.shape)
        bytes.reserveCapacity(bytes.count + array.byteCount)
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The start of a `.npy` file for an array of `dtype` and `shape`: magic, version, header
    /// length and header, up to where the data begins.
    ///
    /// Write these bytes and then the array's elements (C order, little-endian) to produce a
    /// `.npy` file without building an ``AnyNDArray``, for example straight from shared memory.
    /// `shape` should be valid (``Shape/elementCount(_:)`` accepts it); it is written as given.
    public static func encodeHeader(dtype: DType, shape: [Int]) -> [UInt8] {
        let shapeText = switch shape.count {
        case 0: "()"
        case 1: "(\(shape[0]),)" // Python's one-element tuple
        default: "(" + shape.map { String($0) }.joined(separator: ", ") + ")"
        }
        // numpy sorts the keys and leaves a comma after the last entry.
        var dictionary = "{'descr': '\(dtype.typestr)', 'fortran_order': False, 'shape': \(shapeText), }"
        if let first = shape.first {
            dictionary += String(repeating: " ", count: max(0, growthAxisMaxDigits - String(first).count))
        }
        return wrapHeader(Array(dictionary.utf8))
    }

    /// Frames a header dictionary as numpy does: magic, version, length, the dictionary, space
    /// padding and a newline, so that the data starts at a multiple of ``alignment``.
    ///
    /// Version 1.0 has a 16-bit length field; 2.0 (same header, 32-bit length) is used only when
    /// the header does not fit, as numpy does, because older readers know only 1.0.
    static func wrapHeader(_ dictionary: [UInt8]) -> [UInt8] {
        func layout(lengthFieldSize: Int) -> (padding: Int, headerLength: Int) {
            // numpy counts the final newline as part of the header, and pads a full `alignment`
            // bytes when the header would already end on a boundary.
            let unpadded = magic.count + 2 + lengthFieldSize + dictionary.count + 1
            let padding = alignment - unpadded % alignment
            return (padding, dictionary.count + padding + 1)
        }
        var (major, lengthFieldSize): (UInt8, Int) = (1, 2)
        var (padding, headerLength) = layout(lengthFieldSize: lengthFieldSize)
        if headerLength > Int(UInt16.max) {
            (major, lengthFieldSize) = (2, 4)
            (padding, headerLength) = layout(lengthFieldSize: lengthFieldSize)
        }
        var bytes = magic + [major, 0]
        bytes.reserveCapacity(magic.count + 2 + lengthFieldSize + headerLength)
        for index in 0..<lengthFieldSize {
            bytes.append(UInt8(truncatingIfNeeded: headerLength >> (8 * index)))
        }
        bytes += dictionary
        bytes += repeatElement(0x20, count: padding)
        bytes.append(0x0A)
        return bytes
    }
}
