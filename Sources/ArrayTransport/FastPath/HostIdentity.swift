/// What tells two processes that they share a host and its `/dev/shm`, and the names the fast
/// path gives its queues.
enum HostIdentity {
    /// This boot of this machine's kernel (`/proc/sys/kernel/random/boot_id`), read once; nil
    /// if it cannot be read (then no fast path is offered or taken). Containers share it with
    /// their host, so it only says "maybe the same /dev/shm": the nonce in the subscriber's
    /// queue proves it.
    static let bootID: String? = {
        guard let bytes = Sys.readSmallFile("/proc/sys/kernel/random/boot_id") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(inSet: " \n\t")
        return text.isEmpty ? nil : text
    }()

    /// `bits` random bits (a multiple of 64) as lowercase hexadecimal.
    static func randomHex(bits: Int = 128) -> String {
        (0..<(bits / 64)).map { _ in
            let text = String(UInt64.random(in: .min ... .max), radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }

    /// The registry queue of the publisher with `nonce`.
    static func registryName(nonce: String) -> String { "aqfp.\(nonce)" }

    /// The start of the names of the subscriber queues of the publisher with `nonce`.
    static func subscriberPrefix(nonce: String) -> String { "aqfp.\(nonce)." }

    /// The data queue that the local pullers of the pusher with `nonce` share (no subscriber
    /// queue's name: theirs end in hexadecimal digits).
    static func sharedQueueName(nonce: String) -> String { "aqfp.\(nonce).shared" }

    /// Whether `text` is what ``randomHex(bits:)`` makes.
    static func isRandomHex(_ text: Substring, bits: Int) -> Bool {
        text.utf8.count == bits / 4 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

extension String {
    /// The string without leading and trailing characters from `set`.
    fileprivate func trimmingCharacters(inSet set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
