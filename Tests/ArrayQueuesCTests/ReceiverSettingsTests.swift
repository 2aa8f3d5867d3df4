@testable import ArrayQueuesC
import ArrayTransport
import CArrayQueuesC
import Testing

/// `zero_copy_receive` of `aq_receiver_options` (version 4), as the C layer turns it into the
/// Swift receiver's options: a context of the receiver's own that libzmq says receives with
/// zero-copy, only from a struct that has the field and sets it.
@Suite
struct ReceiverSettingsTests {
    /// Options whose every field says zero-copy receive, read as a struct of `size` bytes.
    private func settings(size: Int, zeroCopyReceive: Int64 = 1) throws -> ReceiverSettings {
        var options = aq_receiver_options()
        aqReceiverOptionsInitSized(&options, MemoryLayout<aq_receiver_options>.size)
        options.zero_copy_receive = zeroCopyReceive
        options.size = size
        return try withUnsafePointer(to: &options) { (pointer) throws(TransportError) -> ReceiverSettings in try ReceiverSettings(pointer) }
    }

    @Test("zero_copy_receive gives the receiver a context of its own that receives with zero-copy; 0 and the default keep the shared one")
    func zeroCopyReceive() throws {
        let whole = MemoryLayout<aq_receiver_options>.size
        let on = try settings(size: whole)
        let context = try #require(on.zeroMQ.context)
        #expect(try context.receivesWithZeroCopy)
        #expect(context !== (try ZMQContext.shared()))
        // Each receiver its own: the setting is the context's, not shared with others.
        #expect(try settings(size: whole).zeroMQ.context !== context)
        #expect(try settings(size: whole, zeroCopyReceive: 0).zeroMQ.context == nil)
        var defaults = aq_receiver_options()
        aqReceiverOptionsInitSized(&defaults, whole)
        #expect(defaults.zero_copy_receive == 0)
        #expect(try ReceiverSettings(nil).zeroMQ.context == nil)
    }

    @Test("a struct of version 1, 2 or 3 keeps the default though the bytes after its size say zero-copy")
    func olderSizesKeepTheDefault() throws {
        let sizes = [
            MemoryLayout<aq_receiver_options>.offset(of: \aq_receiver_options.shm_mode)!,
            MemoryLayout<aq_receiver_options>.offset(of: \aq_receiver_options.maximum_connections)!,
            MemoryLayout<aq_receiver_options>.offset(of: \aq_receiver_options.zero_copy_receive)!,
        ]
        for size in sizes {
            #expect(try settings(size: size).zeroMQ.context == nil, "size \(size)")
        }
    }
}
