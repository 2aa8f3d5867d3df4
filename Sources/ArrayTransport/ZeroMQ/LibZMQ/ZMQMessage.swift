import CZeroMQ

/// The owner of one `zmq_msg_t` (one frame). The C struct lives on the heap, so its address
/// never changes: libzmq keeps small frames inside the struct, and the bytes of a received
/// frame can be adopted by an array without copying. Closed (`zmq_msg_close`) on deinit.
struct ZMQMessage: ~Copyable {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message, ready to receive into.
    init() {
        pointer = .allocate(capacity: 1)
        ZMQ.messageInit(pointer)
    }

    /// A message of `size` bytes, owned by libzmq, for the caller to fill in.
    init(size: Int) throws(TransportError) {
        let pointer = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        do {
            try ZMQ.messageInit(pointer, size: size)
        } catch {
            pointer.deallocate()
            throw error
        }
        self.pointer = pointer
    }

    /// A message holding a copy of `bytes`.
    init(copying bytes: UnsafeRawBufferPointer) throws(TransportError) {
        try self.init(size: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0, let target = baseAddress {
            target.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// A message holding a copy of `text`'s UTF-8 bytes.
    init(copying text: String) throws(TransportError) {
        let utf8 = Array(text.utf8)
        try self.init(size: utf8.count)
        if let target = baseAddress {
            utf8.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// A message over `count` bytes at `data` that libzmq sends without copying. libzmq calls
    /// `free(data, hint)` when it is done with them; if this initializer throws it never will.
    init(
        borrowing data: UnsafeMutableRawPointer, count: Int,
        free: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void,
        hint: UnsafeMutableRawPointer
    ) throws(TransportError) {
        let pointer = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        do {
            try ZMQ.messageInit(pointer, data: data, size: count, free: free, hint: hint)
        } catch {
            pointer.deallocate()
            throw error
        }
        self.pointer = pointer
    }

    /// Number of bytes in the frame.
    var count: Int { ZMQ.messageSize(pointer) }

    /// Start of the frame's bytes (may be nil for an empty frame).
    var baseAddress: UnsafeMutableRawPointer? { ZMQ.messageData(pointer) }

    /// The frame's bytes; valid while the message lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: count) }

    /// The descriptor of the connection this received frame came from, if libzmq knows it.
    var sourceDescriptor: Int32? { ZMQ.messageSourceDescriptor(pointer) }

    /// Whether more frames of the same multipart message follow this received frame.
    var hasMore: Bool { ZMQ.messageMore(pointer) }

    deinit {
        ZMQ.messageClose(pointer)
        pointer.deallocate()
    }
}
