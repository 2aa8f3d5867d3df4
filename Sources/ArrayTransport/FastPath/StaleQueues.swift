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
        // Decided and removed under each queue's lock (never one a process attaches to meanwhile),
        // and never waiting for an unfinished file: anyone can leave such files in /dev/shm.
        _ = ArrayQueue.removeStale { name, queue in
            guard name.hasPrefix("aqfp.") else { return false }
            guard let created = queue?.info.created.nanosecondsSinceEpoch else { return true }
            // The creation time comes from the segment: any value, so no arithmetic that can trap.
            let age = now.subtractingReportingOverflow(created)
            return !age.overflow && age.partialValue > staleAgeNanoseconds
        }
    }
}
