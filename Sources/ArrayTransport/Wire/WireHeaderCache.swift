@preconcurrency import Glibc

/// Parts of the last header a receiver read, as text and as read: its head (the text before
/// `seq`'s value), its `stream` and its `arrays`.
///
/// A stream's data headers repeat them from one message to the next (a sender writes them from
/// a ``DataHeaderTemplate``); only `seq`, `t_ns`, `index` and `meta` change. A header whose text
/// there is byte for byte the same takes what was read before instead of reading it again. The
/// scanner reads in one pass and what it makes of a stretch of text depends on that text alone
/// (a value's on the value's, the head's on the head's), so the result is the one reading would
/// give: the text is compared in full.
///
/// One receiver's, used under its lock (not shared between threads).
final class WireHeaderCache {
    private var headText: [UInt8] = []
    private var head = WireHeaderScanner.Fields()
    private var headMaximumArrays = -1
    private var streamText: [UInt8] = []
    private var stream = ""
    private var arraysText: [UInt8] = []
    private var arrays: [WireHeader.WireArray] = []
    /// The limit `arrays` was read with (a list read under another limit is read again).
    private var maximumArrays = -1

    /// The fields read from the head kept and its length, if `bytes` starts with that head and it
    /// was read under the same array limit.
    func head(of bytes: UnsafeRawBufferPointer, maximumArrays: Int) -> (fields: WireHeaderScanner.Fields, length: Int)? {
        guard maximumArrays == headMaximumArrays, !headText.isEmpty, bytes.count >= headText.count,
              Self.equal(headText, UnsafeRawBufferPointer(rebasing: bytes[..<headText.count])) else { return nil }
        return (head, headText.count)
    }

    func keep(head: WireHeaderScanner.Fields, text: UnsafeRawBufferPointer, maximumArrays: Int) {
        headText = Array(text)
        self.head = head
        headMaximumArrays = maximumArrays
    }

    /// The stream whose unescaped text is `text`, if it is the one kept.
    func stream(_ text: UnsafeRawBufferPointer) -> String? {
        Self.equal(streamText, text) ? stream : nil
    }

    func keep(stream: String, text: UnsafeRawBufferPointer) {
        streamText = Array(text)
        self.stream = stream
    }

    /// The arrays kept, with the length of their text, if `bytes` starts with that text and
    /// they were read under the same limit.
    func arrays(at bytes: UnsafeRawBufferPointer, maximumArrays: Int) -> (arrays: [WireHeader.WireArray], length: Int)? {
        guard maximumArrays == self.maximumArrays, !arraysText.isEmpty, bytes.count >= arraysText.count,
              Self.equal(arraysText, UnsafeRawBufferPointer(rebasing: bytes[..<arraysText.count])) else { return nil }
        return (arrays, arraysText.count)
    }

    func keep(arrays: [WireHeader.WireArray], text: UnsafeRawBufferPointer, maximumArrays: Int) {
        arraysText = Array(text)
        self.arrays = arrays
        self.maximumArrays = maximumArrays
    }

    private static func equal(_ kept: [UInt8], _ text: UnsafeRawBufferPointer) -> Bool {
        guard kept.count == text.count else { return false }
        return kept.withUnsafeBytes { kept in
            guard let base = kept.baseAddress, let other = text.baseAddress else { return kept.count == 0 }
            return memcmp(base, other, kept.count) == 0
        }
    }
}
