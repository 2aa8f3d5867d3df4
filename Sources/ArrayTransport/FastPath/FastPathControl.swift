/// The optional `fastpath` key of an arrf/1 header: the same-host fast path's handshake
/// (docs/WIRE.md, "The same-host fast path"). Readers that do not know it ignore it.
enum FastPathControl: Equatable {
    /// In a publisher's heartbeats on the network: where its registry is, and how to prove that
    /// a queue is shared with it. A CURVE server adds its public key (`server_key`): a
    /// subscriber takes only an offer made by the server it connected to.
    case offer(bootID: String, registry: String, nonce: String, serverKey: String? = nil)
    /// In the registry: a subscriber asks to be fed through the queue `queue`.
    case register(queue: String)
    /// The first record in a subscriber's queue: the publisher's nonce (and its CURVE public key,
    /// if it is a CURVE server). Only a process that opened the subscriber's queue can write it.
    /// A pusher's hello also names the queue its local pullers share (`queue`).
    case hello(nonce: String, serverKey: String? = nil, queue: String? = nil)
    /// In a subscriber's queue: the publisher stops feeding it, and says why.
    case leave(reason: String)

    /// The key's value as JSON.
    var json: JSONValue {
        var fields: [String: JSONValue]
        switch self {
        case let .offer(bootID, registry, nonce, serverKey):
            fields = ["boot_id": .string(bootID), "registry": .string(registry), "nonce": .string(nonce)]
            if let serverKey { fields["server_key"] = .string(serverKey) }
        case let .register(queue): fields = ["register": .string(queue)]
        case let .hello(nonce, serverKey, queue):
            fields = ["hello": .string(nonce)]
            if let serverKey { fields["server_key"] = .string(serverKey) }
            if let queue { fields["queue"] = .string(queue) }
        case let .leave(reason): fields = ["leave": .string(reason)]
        }
        return .object(fields)
    }

    /// The control a header's `fastpath` value holds; nil for anything else (ignored, so that
    /// later versions may add forms).
    init?(json: JSONValue) {
        guard case let .object(fields) = json else { return nil }
        if let queue = fields["register"]?.stringValue {
            self = .register(queue: queue)
        } else if let nonce = fields["hello"]?.stringValue {
            self = .hello(nonce: nonce, serverKey: fields["server_key"]?.stringValue, queue: fields["queue"]?.stringValue)
        } else if let reason = fields["leave"]?.stringValue {
            self = .leave(reason: reason)
        } else if let bootID = fields["boot_id"]?.stringValue, let registry = fields["registry"]?.stringValue,
                  let nonce = fields["nonce"]?.stringValue {
            self = .offer(bootID: bootID, registry: registry, nonce: nonce, serverKey: fields["server_key"]?.stringValue)
        } else {
            return nil
        }
    }
}
