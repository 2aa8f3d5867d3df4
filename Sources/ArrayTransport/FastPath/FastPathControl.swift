/// The optional `fastpath` key of an arrf/1 header: the same-host fast path's handshake
/// (docs/WIRE.md, "The same-host fast path"). Readers that do not know it ignore it.
enum FastPathControl: Equatable {
    /// In a publisher's heartbeats on the network: where its registry is, and how to prove that
    /// a queue is shared with it.
    case offer(bootID: String, registry: String, nonce: String)
    /// In the registry: a subscriber asks to be fed through the queue `queue`.
    case register(queue: String)
    /// The first record in a subscriber's queue: the publisher's nonce. Only a process that
    /// opened the subscriber's queue can write it.
    case hello(nonce: String)
    /// In a subscriber's queue: the publisher stops feeding it, and says why.
    case leave(reason: String)

    /// The key's value as JSON.
    var json: JSONValue {
        switch self {
        case let .offer(bootID, registry, nonce):
            ["boot_id": .string(bootID), "registry": .string(registry), "nonce": .string(nonce)]
        case let .register(queue): ["register": .string(queue)]
        case let .hello(nonce): ["hello": .string(nonce)]
        case let .leave(reason): ["leave": .string(reason)]
        }
    }

    /// The control a header's `fastpath` value holds; nil for anything else (ignored, so that
    /// later versions may add forms).
    init?(json: JSONValue) {
        guard case let .object(fields) = json else { return nil }
        if let queue = fields["register"]?.stringValue {
            self = .register(queue: queue)
        } else if let nonce = fields["hello"]?.stringValue {
            self = .hello(nonce: nonce)
        } else if let reason = fields["leave"]?.stringValue {
            self = .leave(reason: reason)
        } else if let bootID = fields["boot_id"]?.stringValue, let registry = fields["registry"]?.stringValue,
                  let nonce = fields["nonce"]?.stringValue {
            self = .offer(bootID: bootID, registry: registry, nonce: nonce)
        } else {
            return nil
        }
    }
}
