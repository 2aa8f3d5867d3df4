/// A stream's name as the wire carries it, compared and hashed by its UTF-8 bytes.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence: "é" (U+00E9) and
/// "e\u{301}" are equal strings. On the wire they are different streams: the topic frame is
/// their bytes, which SUB sockets filter by byte prefix. Every place that decides whether two
/// names are one stream (sequence tracking, the fast path's handshake and deduplication) goes
/// through this type or `String.isSameStream(as:)`, never through `String ==`.
struct StreamName: Hashable, Sendable, CustomStringConvertible {
    /// The name as text.
    let text: String

    init(_ text: String) {
        self.text = text
    }

    var description: String { text }

    static func == (left: StreamName, right: StreamName) -> Bool {
        left.text.isSameStream(as: right.text)
    }

    func hash(into hasher: inout Hasher) {
        var text = text
        // Native strings are contiguous UTF-8 already; makeContiguousUTF8 is then free.
        text.makeContiguousUTF8()
        text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }
}

extension String {
    /// Whether `self` and `other` name the same stream: byte for byte in UTF-8, as libzmq
    /// compares topics (`String ==` would take two Unicode normalisation forms for one name).
    func isSameStream(as other: String) -> Bool {
        utf8.elementsEqual(other.utf8)
    }
}
