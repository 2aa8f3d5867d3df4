/// The subscriptions a publisher refused, by connection: libzmq 4.3 keeps every subscription a
/// peer sends in its XPUB's subscription trie until the peer cancels it or leaves, refused
/// (no prefix of the stream's name: it never matches) or not: about 32 bytes of memory per
/// byte of distinct random ones (docs/RELIABILITY.md, "Hostile remote peers"). The
/// publisher tracks what each connection has outstanding (subscribed and not cancelled) there
/// and drops a connection past ``limitBytes``, after which libzmq frees its entries.
struct RefusedSubscriptions {
    /// Bytes of refused subscriptions one connection may have outstanding: a subscriber that
    /// also listens to other streams sends a few prefixes of a few dozen bytes (a stream name
    /// has at most 1024). About 150 KB of trie for random subscriptions; a trie node keeps a
    /// pointer for every byte value between its lowest and highest child, so crafted ones
    /// (children 0x00 and 0xFF under many nodes) cost more, a few MB at most (estimated from
    /// libzmq 4.3.4's `generic_mtrie_impl.hpp`, not measured).
    static let limitBytes = 4 << 10

    private var byConnection: [Int32: (prefixes: Set<[UInt8]>, bytes: Int)] = [:]

    /// Records a refused subscription (`subscribe`) or the cancel of one from the connection
    /// `descriptor`; returns true when that connection now has more than ``limitBytes``
    /// outstanding (it is forgotten then: the caller drops it).
    mutating func note(_ prefix: [UInt8], subscribe: Bool, descriptor: Int32) -> Bool {
        var entry = byConnection[descriptor] ?? ([], 0)
        if subscribe {
            guard entry.prefixes.insert(prefix).inserted else { return false }
            entry.bytes += prefix.count
        } else {
            // libzmq frees only what was there: a cancel of something never sent frees nothing.
            guard entry.prefixes.remove(prefix) != nil else { return false }
            entry.bytes -= prefix.count
        }
        guard entry.bytes <= Self.limitBytes else {
            byConnection[descriptor] = nil
            return true
        }
        byConnection[descriptor] = entry.prefixes.isEmpty ? nil : entry
        return false
    }

    /// Forgets a connection that opened or closed on `descriptor` (descriptors are reused).
    mutating func forget(_ descriptor: Int32) {
        byConnection[descriptor] = nil
    }
}
