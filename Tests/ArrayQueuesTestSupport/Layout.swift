public import CArrayQueuesShims

/// Offsets in a segment for tests that craft hostile ones, taken from the one definition of the
/// layout (`CArrayQueuesShims.h`), never repeated.
public enum SegmentLayout {
    /// Size of the segment header: the data ring, and its first record, start here.
    public static let headerSize = Int(CAQ_HEADER_SIZE)

    /// Offset of a field of the segment header.
    public static func header<T>(_ field: KeyPath<caq_segment_header, T>) -> Int {
        MemoryLayout<caq_segment_header>.offset(of: field)!
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
