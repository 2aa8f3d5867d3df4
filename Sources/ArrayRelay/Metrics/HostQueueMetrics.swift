public import ArrayQueues
import Glibc

/// The state and counters of every queue of this host, as `aq metrics` exports them.
public enum HostQueueMetrics {
    /// Samples for each queue in `/dev/shm`: sizes, records, puts, gets, drops, resets, the
    /// dead-peer counters and the attached processes, labelled `queue`; and per reason the
    /// number of queues that could not be read (another user's, being created, damaged).
    ///
    /// Each queue is opened for the moment of reading (so it counts this process as attached
    /// meanwhile, which the samples leave out), never waiting for one still being created.
    public static func samples(options: QueueOptions = QueueOptions()) -> [Sample] {
        var options = options
        options.creatorWait = .zero
        var samples: [Sample] = []
        var unreadable: [String: Int] = [:]
        let names = ArrayQueue.allNames()
        for name in names {
            do throws(ArrayQueueError) {
                let queue = try ArrayQueue.open(name: name, options: options)
                let statistics = try queue.statistics()
                let attachments = queue.attachments().filter { $0.pid != getpid() || $0.isInAnotherPIDNamespace }
                samples += QueueMetrics.samples(statistics, attachments: attachments, labels: [("queue", name)], prefix: "aq_queue")
            } catch {
                unreadable[error.code.rawValue, default: 0] += 1
            }
        }
        samples.append(.gauge("aq_queues", "Queues in /dev/shm.", Double(names.count)))
        for (reason, count) in unreadable.sorted(by: { $0.key < $1.key }) {
            samples.append(.gauge("aq_queues_unreadable", "Queues that could not be read, by the error's code.", labels: [("reason", reason)], Double(count)))
        }
        return samples
    }
}
