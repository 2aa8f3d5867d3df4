import ArrayQueues
@testable import ArrayQueuesC
import ArrayTransport
import CArrayQueuesC
import Testing

/// The error codes of the C interface: one per Swift error code, each with its own text.
struct StatusTests {
    @Test("every ArrayQueueError and TransportError code has its own C code and description; shared meanings share one")
    func codesAreOneToOne() {
        let queueCodes = ArrayQueueError.Code.allCases.map(Status.code)
        #expect(Set(queueCodes).count == queueCodes.count, "\(queueCodes)")
        // These mean the same in both modules (the C codes stay as they were before the
        // transport had full, notFound and corruptQueue of its own).
        let shared: [TransportError.Code: ArrayQueueError.Code] = [
            .timeout: .timeout, .invalidArgument: .invalidArgument, .systemCall: .systemCall,
            .full: .full, .notFound: .notFound, .corruptQueue: .corruptSegment,
        ]
        for (transport, queue) in shared {
            #expect(Status.code(TransportError(transport, "x")) == Status.code(queue))
        }
        let transportCodes = TransportError.Code.allCases.filter { shared[$0] == nil }.map { Status.code(TransportError($0, "x")) }
        let all = queueCodes + transportCodes
        #expect(Set(all).count == all.count, "\(all)")
        #expect(all.allSatisfy { $0 < 0 && $0 >= AQ_ELAST })
        #expect(!all.contains(AQ_EBUFFER_TOO_SMALL))
        #expect(Set(all + [AQ_EBUFFER_TOO_SMALL]).count == Int(-AQ_ELAST), "every code in use")
        let texts = (Int32(AQ_ELAST)...0).map { String(cString: aq_strerror($0)) }
        #expect(Set(texts).count == texts.count && !texts.contains("unknown error"))
    }

    @Test("a transport error that came from a queue keeps the queue's code, except a wait ended by closing")
    func queueErrorsKeepTheirMeaning() {
        for code in ArrayQueueError.Code.allCases where code != .cancelled {
            let wrapped = TransportError(.systemCall, "x", queueError: ArrayQueueError(code, "y"))
            #expect(Status.code(wrapped) == Status.code(code))
        }
        let closed = TransportError(.closed, "x", queueError: ArrayQueueError(.cancelled, "y"))
        #expect(Status.code(closed) == AQ_ECLOSED)
    }
}
