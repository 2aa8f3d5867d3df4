import ArrayQueues

/// A whole arrf/1 message in one `uint8` queue record, for what a plain array record cannot
/// carry: several named arrays, metadata, and the end marker (docs/WIRE.md, "Over shared memory").
///
/// Layout: a little-endian u32 header length, the header (arrf/1 JSON), then each payload at
/// the next 64-byte boundary, in the header's order.
enum Envelope {
    static let alignment = 64

    /// Bytes an envelope of this header and these payload sizes takes, and each payload's offset.
    /// For sizes of arrays we hold (a sender's own), which cannot overflow.
    static func layout(headerBytes: Int, payloadSizes: [Int]) -> (total: Int, offsets: [Int]) {
        guard let layout = checkedLayout(headerBytes: headerBytes, payloadSizes: payloadSizes, limit: .max) else {
            preconditionFailure("an envelope of arrays held in memory cannot exceed Int.max bytes")
        }
        return layout
    }

    /// The layout, or nil if it would exceed `limit` bytes. Every step is checked: the sizes may
    /// come from a record written by another process, and a sum that wraps must not pass.
    static func checkedLayout(headerBytes: Int, payloadSizes: [Int], limit: Int) -> (total: Int, offsets: [Int])? {
        guard headerBytes >= 0, headerBytes <= limit - 4 else { return nil }
        var offset = 4 + headerBytes
        var offsets: [Int] = []
        offsets.reserveCapacity(payloadSizes.count)
        for size in payloadSizes {
            // offset <= limit <= Int.max here, so rounding up can overflow only near Int.max.
            let (padded, overflow) = offset.addingReportingOverflow(alignment - 1)
            guard !overflow else { return nil }
            offset = padded / alignment * alignment
            guard size >= 0, offset <= limit, size <= limit - offset else { return nil }
            offsets.append(offset)
            offset += size
        }
        return (offset, offsets)
    }

    /// Bytes an envelope of a `headerBytes`-byte header and payloads of these sizes takes:
    /// ``layout(headerBytes:payloadSizes:)``'s total, without making a list (the same-host fast
    /// path computes it for every message). For arrays held in memory: no overflow.
    static func size(headerBytes: Int, payloadSizes: some Sequence<Int>) -> Int {
        var offset = 4 + headerBytes
        for size in payloadSizes { offset = paddedOffset(offset) + size }
        return offset
    }

    /// ``size(headerBytes:payloadSizes:)`` of named arrays.
    static func size(headerBytes: Int, arrays: [NamedArray]) -> Int {
        size(headerBytes: headerBytes, payloadSizes: arrays.lazy.map(\.array.byteCount))
    }

    /// Writes the header and copies the arrays into `buffer`, which has ``size(headerBytes:payloadSizes:)`` bytes.
    static func write(header: String, arrays: [AnyNDArray], into buffer: UnsafeMutableRawBufferPointer) {
        write(header: Array(header.utf8), payloads: arrays, into: buffer)
    }

    /// Writes a header already encoded (arrf/1 JSON) and copies `arrays` into `buffer`, which has
    /// ``size(headerBytes:arrays:)`` bytes.
    static func write(header: [UInt8], arrays: [NamedArray], into buffer: UnsafeMutableRawBufferPointer) {
        write(header: header, payloads: arrays.lazy.map(\.array), into: buffer)
    }

    private static func write(header: [UInt8], payloads: some Sequence<AnyNDArray>, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: UInt32(header.count).littleEndian, toByteOffset: 0, as: UInt32.self)
        header.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[4..<(4 + $0.count)]).copyMemory(from: $0) }
        var offset = 4 + header.count
        for array in payloads {
            offset = paddedOffset(offset)
            array.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + $0.count)]).copyMemory(from: $0) }
            offset += array.byteCount
        }
    }

    /// `offset` rounded up to the payloads' alignment (offsets of arrays held in memory: no overflow).
    private static func paddedOffset(_ offset: Int) -> Int {
        (offset + alignment - 1) / alignment * alignment
    }

    /// Parses an envelope, checking every length against the record, and copies the arrays out.
    static func read(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int) throws(TransportError) -> (WireHeader, [NamedArray]) {
        let (header, payloads) = try parse(bytes, maximumArrays: maximumArrays)
        return (header, zip(header.arrays, payloads).map { NamedArray($0.name, $1.owned(dtype: $0.dtype, shape: $0.shape)) })
    }

    /// Parses an envelope, checking every length against the record: its header, and each
    /// array's bytes in place in `bytes` (lent: valid as long as the record is). A reader of
    /// one stream passes a `cache` (see ``WireHeaderCache``).
    static func parse(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int, cache: WireHeaderCache? = nil) throws(TransportError) -> (WireHeader, [LentPayload]) {
        guard bytes.count >= 4 else { throw .malformed("the envelope record has \(bytes.count) bytes, too few for its header length") }
        let headerBytes = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        guard headerBytes <= WireHeader.maximumHeaderBytes, 4 + headerBytes <= bytes.count else {
            throw .malformed("the envelope's header length \(headerBytes) does not fit its \(bytes.count)-byte record")
        }
        let header = try WireHeader.decode(UnsafeRawBufferPointer(rebasing: bytes[4..<(4 + headerBytes)]), maximumArrays: maximumArrays, cache: cache)
        // A declared size larger than the record is rejected before any sum is formed.
        if let position = header.arrays.firstIndex(where: { $0.byteCount > bytes.count }) {
            throw .malformed("arrays[\(position)] of the envelope says nbytes \(header.arrays[position].byteCount), more than its \(bytes.count)-byte record")
        }
        guard let (total, offsets) = checkedLayout(headerBytes: headerBytes, payloadSizes: header.arrays.map(\.byteCount), limit: bytes.count),
              total == bytes.count else {
            throw .malformed("the envelope's arrays do not fill its \(bytes.count)-byte record exactly")
        }
        var payloads: [LentPayload] = []
        payloads.reserveCapacity(offsets.count)
        for (position, (wire, offset)) in zip(header.arrays, offsets).enumerated() {
            let payload = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + wire.byteCount)])
            // Records start on 64-byte boundaries and so do payloads: a view is aligned unless
            // the record is not where a queue puts records.
            if let base = payload.baseAddress, Int(bitPattern: base) % wire.dtype.alignment != 0 {
                throw .malformed("arrays[\(position)] of the envelope is not aligned for \(wire.dtype)")
            }
            payloads.append(LentPayload(bytes: payload, keeper: .record))
        }
        return (header, payloads)
    }
}
