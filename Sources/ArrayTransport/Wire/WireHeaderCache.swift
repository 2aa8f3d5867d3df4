@preconcurrency import Glibc

/// The `stream` and `arrays` of the last header a receiver read, as text and as read.
///
/// A stream's data headers repeat both from one message to the next (a sender writes them from
/// a ``DataHeaderTemplate``); only `seq`, `t_ns`, `index` and `meta` change. A header whose text
/// there is byte for byte the same takes the values read before instead of reading them again.
/// Reading a JSON value depends only on its own text, so the result is the one reading would
/// give: the text is compared in full, from the value's first byte to its last.
///
/// One receiver's, used under its lock (not shared between threads).
final class WireHeaderCache {
    private var streamText: [UInt8] = []
    private var stream = ""
    private var arraysText: [UInt8] = []
    private var arrays: [WireHeader.WireArray] = []
    /// The limit `arrays` was read with (a list read under another limit is read again).
    private var maximumArrays = -1

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
