import ArrayQueues

extension WireHeader {
    /// Parses a header frame into a ``JSONValue`` tree and checks the rules on it, in the order
    /// of docs/WIRE.md: the plain reading of the format, slower than ``WireHeaderScanner``. It
    /// is what ``WireHeader/decode(_:maximumArrays:)`` falls back to, and the reference the
    /// scanner is tested against.
    ///
    /// - Throws: ``TransportError/Code/unsupportedVersion`` for another major version, and
    ///   ``TransportError/Code/malformedMessage`` naming the first rule the header breaks.
    static func decodeGeneric(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int) throws(TransportError) -> WireHeader {
        guard bytes.count <= maximumHeaderBytes else {
            throw .malformed("the header is \(bytes.count) bytes long; at most \(maximumHeaderBytes) are allowed")
        }
        let json: JSONValue
        do throws(JSONSyntaxError) {
            json = try JSONParser.parse(bytes)
        } catch {
            throw .malformed("the header is not valid JSON: \(error)")
        }
        guard case let .object(fields) = json else { throw .malformed("the header is not a JSON object") }

        let proto = try string(fields, "proto")
        try checkProtocol(proto)
        let kindText = try string(fields, "kind")
        guard let kind = Kind(rawValue: kindText) else {
            throw .malformed("unknown message kind '\(kindText)' (expected data, heartbeat or end)")
        }
        let stream = try string(fields, "stream")
        let epoch = try integer(fields, "epoch")
        guard epoch > 0 else { throw .malformed("'epoch' is \(epoch); it must be a positive integer") }
        let sequence = try integer(fields, "seq")
        let lowestSequence = kind == .data ? 0 : noSequence
        guard sequence < Int64.max else { throw .malformed("'seq' is \(sequence); it must be below 2^63 - 1") }
        guard sequence >= lowestSequence else {
            throw .malformed("'seq' is \(sequence); a \(kind.rawValue) message needs \(lowestSequence) or more")
        }
        let timestamp = try integer(fields, "t_ns")
        let index: Int64?
        switch fields["index"] {
        case nil, .null?: index = nil
        case let value?:
            guard let number = integerValue(value) else { throw .malformed("'index' must be an integer or null") }
            index = number
        }

        var arrays: [WireArray] = []
        switch fields["arrays"] {
        case nil where kind != .data, .null? where kind != .data: break
        case let .array(list)?:
            guard kind == .data || list.isEmpty else {
                throw .malformed("a \(kind.rawValue) message cannot carry arrays")
            }
            guard list.count <= maximumArrays else {
                throw .malformed("the message lists \(list.count) arrays; at most \(maximumArrays) are allowed")
            }
            arrays.reserveCapacity(list.count)
            for (position, entry) in list.enumerated() {
                arrays.append(try decodeArray(entry, position: position))
            }
        case nil:
            throw .malformed("the header has no 'arrays' key")
        case _?:
            throw .malformed("'arrays' must be a list")
        }

        let meta: [String: JSONValue]
        switch fields["meta"] {
        case nil, .null?: meta = [:]
        case let .object(members)?: meta = members
        case _?: throw .malformed("'meta' must be a JSON object")
        }

        return WireHeader(
            kind: kind, stream: stream, epoch: UInt64(epoch), sequence: sequence, timestampNanoseconds: timestamp,
            index: index, arrays: arrays, meta: meta, fastPath: fields["fastpath"].flatMap(FastPathControl.init(json:)))
    }

    private static func checkProtocol(_ proto: String) throws(TransportError) {
        guard proto.hasPrefix("arrf/") else {
            throw .malformed("'proto' is '\(proto)'; an arrf message says 'arrf/<major>'")
        }
        let version = proto.dropFirst("arrf/".count)
        let majorText = version.prefix(while: { $0 != "." })
        guard let major = Int(majorText), major >= 0, majorText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .malformed("'proto' is '\(proto)'; the version after 'arrf/' must be a number")
        }
        guard major == majorVersion else {
            throw TransportError(.unsupportedVersion, "the message uses protocol '\(proto)' (major version \(major)); this receiver reads arrf/\(majorVersion)")
        }
    }

    private static func decodeArray(_ entry: JSONValue, position: Int) throws(TransportError) -> WireArray {
        guard case let .object(fields) = entry else { throw .malformed("arrays[\(position)] is not a JSON object") }
        let name = try string(fields, "name", context: "arrays[\(position)]")
        let typestr = try string(fields, "dtype", context: "arrays[\(position)]")
        let dtype: DType
        do throws(ArrayQueueError) {
            dtype = try DType(typestr: typestr)
        } catch {
            throw .malformed("arrays[\(position)] ('\(name)'): \(error.message)")
        }
        guard case let .array(extents)? = fields["shape"] else {
            throw .malformed("arrays[\(position)] ('\(name)') has no 'shape' list")
        }
        guard extents.count <= Shape.maxDimensions else {
            throw .malformed("arrays[\(position)] ('\(name)') has \(extents.count) dimensions; at most \(Shape.maxDimensions) are allowed")
        }
        var shape: [Int] = []
        shape.reserveCapacity(extents.count)
        for extent in extents {
            guard let value = integerValue(extent), value >= 0 else {
                throw .malformed("arrays[\(position)] ('\(name)') has shape \(JSONValue.array(extents)); extents must be non-negative integers")
            }
            shape.append(Int(value))
        }
        let expected: Int
        do throws(ArrayQueueError) {
            expected = try Shape.byteCount(shape, dtype: dtype)
        } catch {
            throw .malformed("arrays[\(position)] ('\(name)'): \(error.message)")
        }
        let nbytes = try integer(fields, "nbytes", context: "arrays[\(position)]")
        guard nbytes == expected else {
            throw .malformed("arrays[\(position)] ('\(name)') says nbytes \(nbytes), but shape \(shape) of \(dtype.typestr) needs \(expected)")
        }
        if let order = fields["order"] {
            guard order == .string("C") else {
                throw .malformed("arrays[\(position)] ('\(name)') has order \(order); arrf/1 carries C-order arrays only")
            }
        }
        if let codec = fields["codec"] {
            guard codec == .string("raw") else {
                throw .malformed("arrays[\(position)] ('\(name)') uses codec \(codec), which this receiver does not know (arrf/1 has 'raw')")
            }
        }
        return WireArray(name: name, dtype: dtype, shape: shape, byteCount: expected)
    }

    // MARK: Field access

    private static func string(_ fields: [String: JSONValue], _ key: String, context: String = "the header") throws(TransportError) -> String {
        guard let value = fields[key] else { throw .malformed("\(context) has no '\(key)' key") }
        guard case let .string(text) = value else { throw .malformed("'\(key)' in \(context) must be a string, not \(value)") }
        return text
    }

    private static func integer(_ fields: [String: JSONValue], _ key: String, context: String = "the header") throws(TransportError) -> Int64 {
        guard let value = fields[key] else { throw .malformed("\(context) has no '\(key)' key") }
        guard let number = integerValue(value) else { throw .malformed("'\(key)' in \(context) must be an integer, not \(value)") }
        return number
    }

    /// An integer, or a number with an integral value small enough to be exact in a double.
    private static func integerValue(_ value: JSONValue) -> Int64? {
        switch value {
        case let .integer(number): return number
        case let .number(number) where number.rounded() == number && abs(number) <= 0x1p53: return Int64(number)
        default: return nil
        }
    }
}
