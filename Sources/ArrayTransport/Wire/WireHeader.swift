import ArrayQueues

/// The header frame of an arrf/1 message (docs/WIRE.md): what a sender writes and what a
/// receiver accepts after checking every rule.
struct WireHeader: Equatable {
    /// The protocol version senders write.
    static let protocolName = "arrf/1"
    /// The major version receivers read.
    static let majorVersion = 1
    /// Largest header frame accepted, in bytes.
    static let maximumHeaderBytes = 64 * 1024
    /// The value of `seq` in a heartbeat or end message sent before any data message.
    static let noSequence: Int64 = -1

    /// The three kinds of message.
    enum Kind: String {
        /// Carries arrays.
        case data
        /// Says that an idle stream is alive; carries the last `seq`.
        case heartbeat
        /// Says that the sender closed the stream on purpose; carries the last `seq`.
        case end
    }

    var kind: Kind
    var stream: String
    var epoch: UInt64
    /// For data: 0, 1, 2 ...; for heartbeat and end: the last data `seq`, or -1 if none was sent.
    var sequence: Int64
    var timestampNanoseconds: Int64
    var index: Int64?
    var arrays: [WireArray]
    var meta: [String: JSONValue]
    /// The same-host fast path's handshake (the optional `fastpath` key), if any.
    var fastPath: FastPathControl? = nil

    /// The description of one payload frame.
    struct WireArray: Equatable {
        var name: String
        var dtype: DType
        var shape: [Int]
        /// product(shape) × item size: the size of the payload frame.
        var byteCount: Int
    }

    // MARK: Encoding

    /// The header as compact JSON (UTF-8), keys in the order of docs/WIRE.md, `meta` sorted.
    /// ``DataHeaderTemplate`` writes the same bytes for a sender's data messages, faster.
    func encodedBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192 + 96 * arrays.count)
        Self.writeHead(kind: kind, stream: stream, epoch: epoch, to: &out)
        JSONWriter.writeInteger(sequence, to: &out)
        Self.writeTail(timestampNanoseconds: timestampNanoseconds, index: index, to: &out)
        Self.writeArrays(arrays, to: &out)
        JSONWriter.writeObject(meta, to: &out)
        if let fastPath {
            JSONWriter.appendASCII(",\"fastpath\":", to: &out)
            JSONWriter.write(fastPath.json, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The header as compact JSON text.
    func encoded() -> String {
        String(decoding: encodedBytes(), as: UTF8.self)
    }

    /// `{"proto":"arrf/1","kind":…,"stream":…,"epoch":…,"seq":`
    static func writeHead(kind: Kind, stream: String, epoch: UInt64, to out: inout [UInt8]) {
        JSONWriter.appendASCII("{\"proto\":", to: &out)
        JSONWriter.writeString(protocolName, to: &out)
        JSONWriter.appendASCII(",\"kind\":", to: &out)
        switch kind {
        case .data: JSONWriter.appendASCII("\"data\"", to: &out)
        case .heartbeat: JSONWriter.appendASCII("\"heartbeat\"", to: &out)
        case .end: JSONWriter.appendASCII("\"end\"", to: &out)
        }
        JSONWriter.appendASCII(",\"stream\":", to: &out)
        JSONWriter.writeString(stream, to: &out)
        JSONWriter.appendASCII(",\"epoch\":", to: &out)
        JSONWriter.writeInteger(epoch, to: &out)
        JSONWriter.appendASCII(",\"seq\":", to: &out)
    }

    /// `,"t_ns":…,"index":…` (the index only if there is one).
    static func writeTail(timestampNanoseconds: Int64, index: Int64?, to out: inout [UInt8]) {
        JSONWriter.appendASCII(",\"t_ns\":", to: &out)
        JSONWriter.writeInteger(timestampNanoseconds, to: &out)
        if let index {
            JSONWriter.appendASCII(",\"index\":", to: &out)
            JSONWriter.writeInteger(index, to: &out)
        }
    }

    /// `,"arrays":[…],"meta":`
    static func writeArrays(_ arrays: [WireArray], to out: inout [UInt8]) {
        JSONWriter.appendASCII(",\"arrays\":[", to: &out)
        for (position, array) in arrays.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendASCII("{\"name\":", to: &out)
            JSONWriter.writeString(array.name, to: &out)
            JSONWriter.appendASCII(",\"dtype\":\"", to: &out)
            out.append(contentsOf: array.dtype.typestr.utf8)
            JSONWriter.appendASCII("\",\"shape\":[", to: &out)
            for (axis, extent) in array.shape.enumerated() {
                if axis > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeInteger(Int64(extent), to: &out)
            }
            JSONWriter.appendASCII("],\"order\":\"C\",\"nbytes\":", to: &out)
            JSONWriter.writeInteger(Int64(array.byteCount), to: &out)
            JSONWriter.appendASCII(",\"codec\":\"raw\"}", to: &out)
        }
        JSONWriter.appendASCII("],\"meta\":", to: &out)
    }

    // MARK: Decoding

    /// Parses and checks a header frame; `maximumArrays` bounds the `arrays` list.
    ///
    /// ``WireHeaderScanner`` reads the usual header in one pass; whatever it does not take —
    /// anything malformed, and valid but unusual text (a number written as `5.0`, an escaped
    /// `proto`, …) — goes to ``decodeGeneric(_:maximumArrays:)``, which decides with the same
    /// rules and names the first one broken.
    ///
    /// - Throws: ``TransportError/Code/unsupportedVersion`` for another major version, and
    ///   ``TransportError/Code/malformedMessage`` naming the first rule the header breaks.
    static func decode(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int, cache: WireHeaderCache? = nil) throws(TransportError) -> WireHeader {
        if let header = WireHeaderScanner.decode(bytes, maximumArrays: maximumArrays, cache: cache) {
            return header
        }
        return try decodeGeneric(bytes, maximumArrays: maximumArrays)
    }
}
