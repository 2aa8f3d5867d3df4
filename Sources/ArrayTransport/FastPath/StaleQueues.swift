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
            // The creation time comes from the segment: any value, so no arithmetic that can trap.
            guard let created = (try? ArrayQueue.open(name: name))?.info.created.nanosecondsSinceEpoch,
                  case let age = now.subtractingReportingOverflow(created), !age.overflow,
                  age.partialValue > staleAgeNanoseconds, ArrayQueue.isStale(name: name) == true else { continue }
            try? ArrayQueue.remove(name: name)
        }
    }
}
