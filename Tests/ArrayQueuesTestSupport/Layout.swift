public import CArrayQueuesShims

/// Offsets in a segment for tests that craft hostile ones, taken from the one definition of the
/// layout (`CArrayQueuesShims.h`), never repeated.
public enum SegmentLayout {
    /// Size of the segment header: the data ring, and its first record, start here.
    public static let headerSize = Int(CAQ_HEADER_SIZE)

    /// Every record, payload and ring position is a multiple of this.
    public static let alignment = Int(CAQ_ALIGNMENT)

    /// Offset of a field of the segment header.
    public static func header<T>(_ field: KeyPath<caq_segment_header, T>) -> Int {
        MemoryLayout<caq_segment_header>.offset(of: field)!
    }

    /// The bytes of the queue lock, with the padding that keeps the cursors after it.
    public static var lockBytes: Range<Int> { header(\.lock)..<header(\.head) }

    /// Offset of a field of entry `slot` of the attached-process table.
    public static func attachment<T>(_ slot: Int, _ field: KeyPath<caq_attachment, T>) -> Int {
        header(\.attached) + slot * MemoryLayout<caq_attachment>.stride + MemoryLayout<caq_attachment>.offset(of: field)!
    }

    /// Offset of a field of slot `slot` of a broadcast queue's subscriber table.
    public static func subscriber<T>(_ slot: Int, _ field: KeyPath<caq_subscriber, T>) -> Int {
        header(\.subscribers) + slot * MemoryLayout<caq_subscriber>.stride + MemoryLayout<caq_subscriber>.offset(of: field)!
    }

    /// Offset of a field of a record header, from the record's start.
    public static func record<T>(_ field: KeyPath<caq_record_header, T>) -> Int {
        MemoryLayout<caq_record_header>.offset(of: field)!
    }

    /// Offset of a record's extent along `axis`, from the record's start (the shape follows the
    /// fixed part of the record header).
    public static func extent(_ axis: Int) -> Int {
        Int(CAQ_RECORD_HEADER_SIZE) + axis * MemoryLayout<UInt64>.size
    }

    /// Offset of a field of the first record in the segment (at the start of the ring).
    public static func firstRecord<T>(_ field: KeyPath<caq_record_header, T>) -> Int {
        headerSize + record(field)
    }
}
