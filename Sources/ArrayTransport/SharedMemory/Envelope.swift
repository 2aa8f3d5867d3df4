import ArrayQueues

/// A whole arrf/1 message in one `uint8` queue record, for what a plain array record cannot
/// carry: several named arrays, metadata, and the end marker (docs/WIRE.md, "Over shared memory").
///
/// Layout: a little-endian u32 header length, the header (arrf/1 JSON), then each payload at
/// the next 64-byte boundary, in the header's order.
enum Envelope {
    static let alignment = 64

    /// Bytes an envelope of this header and these payload sizes takes, and each payload's offset.
    static func layout(headerBytes: Int, payloadSizes: [Int]) -> (total: Int, offsets: [Int]) {
        var offset = 4 + headerBytes
        var offsets: [Int] = []
        for size in payloadSizes {
            offset = (offset + alignment - 1) / alignment * alignment
            offsets.append(offset)
            offset += size
        }
        return (offset, offsets)
    }

    /// Writes the header and copies the arrays into `buffer`, which has `layout(...).total` bytes.
    static func write(header: String, arrays: [AnyNDArray], into buffer: UnsafeMutableRawBufferPointer) {
        let headerBytes = Array(header.utf8)
        buffer.storeBytes(of: UInt32(headerBytes.count).littleEndian, toByteOffset: 0, as: UInt32.self)
        headerBytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[4..<(4 + $0.count)]).copyMemory(from: $0) }
        let (_, offsets) = layout(headerBytes: headerBytes.count, payloadSizes: arrays.map(\.byteCount))
        for (array, offset) in zip(arrays, offsets) {
            array.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + $0.count)]).copyMemory(from: $0) }
        }
    }

    /// Parses an envelope, checking every length against the record, and copies the arrays out.
    static func read(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int) throws(TransportError) -> (WireHeader, [NamedArray]) {
        guard bytes.count >= 4 else { throw .malformed("the envelope record has \(bytes.count) bytes, too few for its header length") }
        let headerBytes = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard headerBytes <= WireHeader.maximumHeaderBytes, 4 + headerBytes <= bytes.count else {
            throw .malformed("the envelope's header length \(headerBytes) does not fit its \(bytes.count)-byte record")
        }
        let header = try WireHeader.decode(UnsafeRawBufferPointer(rebasing: bytes[4..<(4 + headerBytes)]), maximumArrays: maximumArrays)
        let (total, offsets) = layout(headerBytes: headerBytes, payloadSizes: header.arrays.map(\.byteCount))
        guard total == bytes.count else {
            throw .malformed("the envelope's arrays need \(total) bytes but its record has \(bytes.count)")
        }
        var arrays: [NamedArray] = []
        for (wire, offset) in zip(header.arrays, offsets) {
            let payload = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + wire.byteCount)])
            do throws(ArrayQueueError) {
                arrays.append(NamedArray(wire.name, try AnyNDArray(dtype: wire.dtype, shape: wire.shape, copying: payload)))
            } catch {
                throw TransportError(error)
            }
        }
        return (header, arrays)
    }
}
