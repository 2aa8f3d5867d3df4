import ArrayQueues

/// A sender's data headers, prepared once: the text before `seq` (protocol, kind, stream,
/// epoch) never changes, and the `arrays` list is kept until the arrays' names, dtypes or
/// shapes change. Per message only `seq`, `t_ns`, `index` and `meta` are written. The bytes
/// are exactly those of ``WireHeader/encodedBytes()`` for the same header.
struct DataHeaderTemplate {
    /// `{"proto":"arrf/1","kind":"data","stream":…,"epoch":…,"seq":`
    private let head: [UInt8]
    /// What ``arraysText`` describes.
    private var described: [WireHeader.WireArray] = []
    /// `,"arrays":[…],"meta":` for ``described``.
    private var arraysText: [UInt8]
    /// `,"fastpath":{…}`: the same-host fast path's offer, for the headers that carry it.
    private let offerText: [UInt8]

    /// A template for the data headers of `stream` in `epoch`; `offer` is the fast path's offer
    /// that some of them carry.
    init(stream: String, epoch: UInt64, offer: FastPathControl? = nil) {
        var head: [UInt8] = []
        WireHeader.writeHead(kind: .data, stream: stream, epoch: epoch, to: &head)
        self.head = head
        var arraysText: [UInt8] = []
        WireHeader.writeArrays([], to: &arraysText)
        self.arraysText = arraysText
        var offerText: [UInt8] = []
        if let offer {
            JSONWriter.appendASCII(",\"fastpath\":", to: &offerText)
            JSONWriter.write(offer.json, to: &offerText)
        }
        self.offerText = offerText
    }

    /// Replaces `buffer`'s contents with the header of a data message carrying `arrays` (and
    /// the fast path's offer, with `offering`).
    mutating func write(
        _ arrays: [NamedArray], sequence: UInt64, timestampNanoseconds: Int64, index: Int64?, meta: [String: JSONValue],
        offering: Bool = false, into buffer: inout [UInt8]
    ) {
        if !describes(arrays) {
            described = arrays.map { WireHeader.WireArray(name: $0.name, dtype: $0.array.dtype, shape: $0.array.shape, byteCount: $0.array.byteCount) }
            arraysText.removeAll(keepingCapacity: true)
            WireHeader.writeArrays(described, to: &arraysText)
        }
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(head.count + arraysText.count + 96)
        buffer.append(contentsOf: head)
        JSONWriter.writeInteger(sequence, to: &buffer)
        WireHeader.writeTail(timestampNanoseconds: timestampNanoseconds, index: index, to: &buffer)
        buffer.append(contentsOf: arraysText)
        JSONWriter.writeObject(meta, to: &buffer)
        if offering { buffer.append(contentsOf: offerText) }
        buffer.append(UInt8(ascii: "}"))
    }

    /// How many bytes the offer adds to a header that carries it.
    var offerByteCount: Int { offerText.count }

    /// Whether ``arraysText`` describes `arrays` (a shape's byte count follows from the rest).
    private func describes(_ arrays: [NamedArray]) -> Bool {
        guard arrays.count == described.count else { return false }
        for (named, wire) in zip(arrays, described) {
            guard named.array.dtype == wire.dtype, named.array.shape == wire.shape, named.name == wire.name else { return false }
        }
        return true
    }
}
