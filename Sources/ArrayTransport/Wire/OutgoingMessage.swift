/// What every sender checks of a message before it uses a sequence number, whatever the
/// endpoint (`shm://`, `tcp://`, `ipc://`): one function, so that a message one endpoint
/// refuses is refused by all of them, with the same error.
enum OutgoingMessage {
    /// Throws ``TransportError/Code/invalidArgument`` for a message that no receiver would
    /// take as it was given: more than `maximumArrays` arrays (receivers drop such a message as
    /// malformed, by default beyond ``ArrayMessage/defaultMaximumArrays``), or a number in `meta`
    /// that JSON cannot carry (NaN or infinite, also what a too-large literal such as `1e999`
    /// parses to; written, it would become `null`).
    static func check(_ arrays: [NamedArray], meta: [String: JSONValue], maximumArrays: Int) throws(TransportError) {
        guard arrays.count <= maximumArrays else {
            throw TransportError(
                .invalidArgument,
                "the message has \(arrays.count) arrays; this sender sends at most \(maximumArrays) (its maximumArrays; receivers take \(ArrayMessage.defaultMaximumArrays) by default)")
        }
        if let problem = metaProblem(meta) { throw TransportError(.invalidArgument, problem) }
    }

    /// Why `meta` cannot be written as arrf/1 JSON, or nil if it can: a NaN or infinite number
    /// (written, it would become `null`). Senders and ``ArrayQueue/put(_:asEnvelope:timeout:)``
    /// (which writes received messages, `aq-relay subscribe`'s, into a queue) refuse it alike.
    static func metaProblem(_ meta: [String: JSONValue]) -> String? {
        JSONValue.object(meta).isFinite ? nil : "meta contains a NaN or infinite number, which JSON cannot carry"
    }
}
