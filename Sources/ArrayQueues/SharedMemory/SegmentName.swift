/// Validated queue names and the POSIX shared-memory object names behind them.
///
/// A queue named `camera0` lives in the object `/aq.camera0` (the file `/dev/shm/aq.camera0`
/// on Linux); the prefix keeps ArrayQueues segments apart from other users of `/dev/shm`.
enum SegmentName {
    static let prefix = "aq."
    static let directory = "/dev/shm"
    /// NAME_MAX less the prefix.
    static let maxLength = 255 - prefix.count

    /// Checks `name` and returns the shared-memory object name for it.
    static func objectName(for name: String) throws(ArrayQueueError) -> String {
        try validate(name)
        return "/\(prefix)\(name)"
    }

    static func validate(_ name: String) throws(ArrayQueueError) {
        guard !name.isEmpty else { throw ArrayQueueError(.invalidName, "a queue name cannot be empty") }
        guard name.utf8.count <= maxLength else {
            throw ArrayQueueError(.invalidName, "queue name is \(name.utf8.count) bytes long; at most \(maxLength) are allowed")
        }
        guard name != "." && name != ".." && !name.hasPrefix(".") else {
            throw ArrayQueueError(.invalidName, "queue name '\(name)' cannot start with '.'")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "._-@+=,:".utf8.contains(byte)
        }
        guard allowed else {
            throw ArrayQueueError(.invalidName, "queue name '\(name)' may contain only letters, digits and . _ - @ + = , : (no '/', spaces or control characters)")
        }
    }

    /// Names of the queues whose objects exist in `/dev/shm`.
    static func existingQueueNames() -> [String] {
        Sys.directoryEntries(directory).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }
}
