import ArrayQueues

extension HostIdentity {
    /// Fast-path queues younger than this are never taken for stale: their creator may not
    /// have attached to them yet.
    static let staleAgeNanoseconds: Int64 = 10_000_000_000

    /// Removes the fast-path queues (`aqfp.*`) that no live process uses: registries and
    /// subscriber queues left behind by processes that were killed before they could remove
    /// them. Publishers and subscribers call it before they make a queue of their own.
    static func removeStaleQueues() {
        let now = Timestamp.now().nanosecondsSinceEpoch
        for name in ArrayQueue.allNames() where name.hasPrefix("aqfp.") {
            guard let created = (try? ArrayQueue.open(name: name))?.info.created.nanosecondsSinceEpoch,
                  now - created > staleAgeNanoseconds, ArrayQueue.isStale(name: name) == true else { continue }
            try? ArrayQueue.remove(name: name)
        }
    }
}
