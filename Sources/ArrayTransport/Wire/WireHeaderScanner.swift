import ArrayQueues

/// Reads an arrf/1 header in one pass over its UTF-8 bytes, straight into a ``WireHeader``:
/// keys are compared as bytes, integers are parsed in place and the entries of `arrays` take a
/// path of their own. Only `meta`, `fastpath` and unknown keys (skipped, but checked like any
/// JSON) go through the generic ``JSONParser``.
///
/// The scanner accepts only what ``WireHeader/decodeGeneric(_:maximumArrays:)`` accepts, with
/// the same result. It gives up (returns nil) on everything else — every malformed header, and
/// valid but unusual text such as an integer written `5.0` or `1e3`, or a `proto` of `arrf/1.é`
/// — and the generic path then decides, naming the rule a header breaks. Escapes in strings
/// and keys are no reason to give up. `WireDifferentialTests` holds the two paths to this.
struct WireHeaderScanner {
    /// The scanner does not take this header: the generic path decides.
    struct GiveUp: Error {}

    /// The reader of the text, shared with the generic parser for the values it hands over.
    var parser: JSONParser
    /// The `stream` and `arrays` of the receiver's previous header, if it keeps them.
    var cache: WireHeaderCache? = nil

    /// Reads `bytes` as a header, or returns nil to leave it to the generic path. With a
    /// `cache`, a `stream` or `arrays` whose text is the cached one takes the cached value.
    static func decode(_ bytes: UnsafeRawBufferPointer, maximumArrays: Int, cache: WireHeaderCache? = nil) -> WireHeader? {
        guard bytes.count <= WireHeader.maximumHeaderBytes else { return nil }
        var scanner = WireHeaderScanner(parser: JSONParser(bytes), cache: cache)
        return try? scanner.header(maximumArrays: maximumArrays)
    }

    /// The top-level keys the scanner knows, as bits of a set (to refuse repeated keys).
    private enum Key: UInt16 {
        case proto = 1, kind = 2, stream = 4, epoch = 8, seq = 16, tNs = 32, index = 64, arrays = 128, meta = 256, fastpath = 512

        static let required: UInt16 = Key.proto.rawValue | Key.kind.rawValue | Key.stream.rawValue
            | Key.epoch.rawValue | Key.seq.rawValue | Key.tNs.rawValue
    }

    /// What the header's members said so far.
    struct Fields {
        var seen: UInt16 = 0
        var unknownKeys: Set<String> = []
        var kind = WireHeader.Kind.data
        var stream = ""
        var epoch: Int64 = 0
        var sequence: Int64 = 0
        var timestamp: Int64 = 0
        var index: Int64?
        var arrays: [WireHeader.WireArray]?
        var meta: [String: JSONValue] = [:]
        var fastPath: JSONValue?
    }

    private mutating func header(maximumArrays: Int) throws(GiveUp) -> WireHeader {
        var fields = Fields()
        // The member whose value is read first, when the text before it was the cached head.
        var resumeAt: Key?
        if let cache, let (head, length) = cache.head(of: parser.bytes, maximumArrays: maximumArrays) {
            // Reading the same text again would end at the same place with the same fields.
            fields = head
            parser.position = length
            skipSpace()
            resumeAt = .seq
        } else {
            skipSpace()
            try expect(UInt8(ascii: "{"))
        }
        repeat {
            let key: Key
            if let resumed = resumeAt {
                key = resumed
                resumeAt = nil
            } else {
                skipSpace()
                let name = try string()
                let known = name.withBytes(Self.key)
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                guard let known else {
                    try skipUnknown(name, seen: &fields.unknownKeys, depth: 1)
                    continue
                }
                guard fields.seen & known.rawValue == 0 else { throw GiveUp() }
                fields.seen |= known.rawValue
                key = known
                // A sender's template writes everything before `seq`'s value the same way each time.
                if key == .seq, let cache {
                    cache.keep(head: fields, text: UnsafeRawBufferPointer(rebasing: parser.bytes[..<parser.position]), maximumArrays: maximumArrays)
                }
            }
            switch key {
            case .proto: guard try string().withBytes(Self.isVersionOne) else { throw GiveUp() }
            case .kind:
                guard let known = try string().withBytes(Self.kind) else { throw GiveUp() }
                fields.kind = known
            case .stream: fields.stream = try streamValue()
            case .epoch: fields.epoch = try integer()
            case .seq: fields.sequence = try integer()
            case .tNs: fields.timestamp = try integer()
            case .index: fields.index = try nullLiteral() ? nil : integer()
            case .arrays: fields.arrays = try nullLiteral() ? nil : cachedArrayList(maximumArrays: maximumArrays)
            case .meta:
                if try !nullLiteral() {
                    guard parser.peek() == UInt8(ascii: "{"), case let .object(members) = try genericValue(depth: 1) else { throw GiveUp() }
                    fields.meta = members
                }
            case .fastpath: fields.fastPath = try genericValue(depth: 1)
            }
        } while try nextMember(closing: UInt8(ascii: "}"))
        skipSpace()
        guard parser.position == parser.bytes.count, fields.seen & Key.required == Key.required else { throw GiveUp() }

        // The rules of docs/WIRE.md that span several keys.
        let kind = fields.kind, sequence = fields.sequence
        guard fields.epoch > 0, sequence < Int64.max, sequence >= (kind == .data ? 0 : WireHeader.noSequence) else { throw GiveUp() }
        switch kind {
        case .data: guard fields.arrays != nil else { throw GiveUp() }
        case .heartbeat, .end: guard fields.arrays?.isEmpty ?? true else { throw GiveUp() }
        }
        return WireHeader(
            kind: kind, stream: fields.stream, epoch: UInt64(fields.epoch), sequence: sequence, timestampNanoseconds: fields.timestamp,
            index: fields.index, arrays: fields.arrays ?? [], meta: fields.meta, fastPath: fields.fastPath.flatMap(FastPathControl.init(json:)))
    }

    /// `stream`'s value, from the cache when its text (without escapes) is the cached one.
    private mutating func streamValue() throws(GiveUp) -> String {
        let token = try string()
        guard let cache, case let .raw(bytes) = token else { return try text(token) }
        if let stream = cache.stream(bytes) { return stream }
        let stream = try text(token)
        cache.keep(stream: stream, text: bytes)
        return stream
    }

    /// `arrays`' list, from the cache when its text is the cached one (``arrayList(maximumArrays:)``
    /// reads from `[` to its `]` and no further, so the same text reads the same).
    private mutating func cachedArrayList(maximumArrays: Int) throws(GiveUp) -> [WireHeader.WireArray] {
        guard let cache else { return try arrayList(maximumArrays: maximumArrays) }
        let start = parser.position
        let rest = UnsafeRawBufferPointer(rebasing: parser.bytes[start...])
        if let (arrays, length) = cache.arrays(at: rest, maximumArrays: maximumArrays) {
            parser.position += length
            return arrays
        }
        let arrays = try arrayList(maximumArrays: maximumArrays)
        cache.keep(arrays: arrays, text: UnsafeRawBufferPointer(rebasing: parser.bytes[start..<parser.position]), maximumArrays: maximumArrays)
        return arrays
    }

    /// The key spelled by `bytes`. An escaped key arrives decoded. The generic parser's
    /// dictionary compares keys as Swift `String`s (canonical equivalence), but the only single
    /// characters equal to ASCII ones are U+037E, U+1FEF and U+212A (`;`, `` ` ``, `K`), none in
    /// a key's name: comparing bytes finds the same keys.
    private static func key(_ bytes: UnsafeRawBufferPointer) -> Key? {
        switch (bytes.count, word(bytes)) {
        case (3, KeyWord.seq): .seq
        case (4, KeyWord.kind): .kind
        case (4, KeyWord.tNs): .tNs
        case (4, KeyWord.meta): .meta
        case (5, KeyWord.proto): .proto
        case (5, KeyWord.epoch): .epoch
        case (5, KeyWord.index): .index
        case (6, KeyWord.stream): .stream
        case (6, KeyWord.arrays): .arrays
        case (8, KeyWord.fastpath): .fastpath
        default: nil
        }
    }

    /// The top-level keys as ``word(_:)``s, written out so that they are constants (a test
    /// checks them against the names).
    enum KeyWord {
        static let seq: UInt64 = 0x71_6573
        static let kind: UInt64 = 0x646e_696b
        static let tNs: UInt64 = 0x736e_5f74
        static let meta: UInt64 = 0x6174_656d
        static let proto: UInt64 = 0x6f_746f_7270
        static let epoch: UInt64 = 0x68_636f_7065
        static let index: UInt64 = 0x78_6564_6e69
        static let stream: UInt64 = 0x6d61_6572_7473
        static let arrays: UInt64 = 0x7379_6172_7261
        static let fastpath: UInt64 = 0x6874_6170_7473_6166
    }

    private static func kind(_ bytes: UnsafeRawBufferPointer) -> WireHeader.Kind? {
        if matches(bytes, "data") { return .data }
        if matches(bytes, "heartbeat") { return .heartbeat }
        if matches(bytes, "end") { return .end }
        return nil
    }

    /// Whether `proto` is `arrf/1`, `arrf/01` or `arrf/1.<ASCII>` (what the generic check reads
    /// as major version 1). Anything else is left to the generic path and its version error.
    private static func isVersionOne(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 5, matches(UnsafeRawBufferPointer(rebasing: bytes[..<5]), "arrf/") else { return false }
        var position = 5
        while position < bytes.count, bytes[position] == UInt8(ascii: "0") { position += 1 }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "1") else { return false }
        position += 1
        guard position == bytes.count || bytes[position] == UInt8(ascii: ".") else { return false }
        // ASCII after the dot: no combining mark can join the dot into another character.
        return bytes[position...].allSatisfy { $0 < 0x80 }
    }
}
