@_spi(Transport) import ArrayQueues
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

@Suite("Shared-memory transport (shm://)")
struct SharedMemoryTransportTests {
    private func withStream<R>(_ body: (String) throws -> R) throws -> R {
        let name = "t-shm-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? ArrayQueue.remove(name: name) }
        return try body(name)
    }

    @Test("on shm://, pub/sub is a broadcast queue: every subscriber gets every record in order; push/pull shares a plain queue's records")
    func patternsMeanTheSame() throws {
        try withStream { name in
            let endpoint = Endpoint.sharedMemory(name: name)
            let subscribers = [try endpoint.makeReceiver(pattern: .subscribeAll), try endpoint.makeReceiver(pattern: .subscribeAll)]
            let publisher = try endpoint.makeSender(stream: name, pattern: .publish, sharedMemory: .init(capacity: 1 << 20))
            #expect(try ArrayQueue.open(name: name).isBroadcast)
            for value in 0..<50 { try publisher.send(try NDArray<Int32>(shape: [4], repeating: Int32(value))) }
            for subscriber in subscribers {
                var values: [Int32] = []
                while values.count < 50, let message = try subscriber.receive(timeout: .seconds(1)) {
                    values.append(try message["array"]!.typed(as: Int32.self).elements[0])
                }
                #expect(values == (0..<50).map(Int32.init))
                #expect(subscriber.statistics.lost == 0)
            }
            publisher.close()
            subscribers.forEach { $0.close() }
            // The other kind of queue under that name is refused, with the reason.
            let refused = #expect(throws: TransportError.self) { try endpoint.makeSender(stream: name, pattern: .push) }
            #expect(refused?.message.contains("is a broadcast queue") == true, "\(refused?.message ?? "")")
        }
        try withStream { name in
            let endpoint = Endpoint.sharedMemory(name: name)
            let pusher = try endpoint.makeSender(stream: name, pattern: .push, sharedMemory: .init(capacity: 1 << 20))
            let pullers = [try endpoint.makeReceiver(pattern: .pull), try endpoint.makeReceiver(pattern: .pull)]
            for value in 0..<20 { try pusher.send(try NDArray<Int32>(shape: [1], repeating: Int32(value))) }
            var taken: [Int32] = []
            for puller in pullers {
                for _ in 0..<10 { taken.append(try #require(try puller.receive(timeout: .seconds(1)))["array"]!.typed(as: Int32.self).elements[0]) }
            }
            #expect(taken.sorted() == (0..<20).map(Int32.init), "each record to one puller")
            let refused = #expect(throws: TransportError.self) { try endpoint.makeReceiver(pattern: .subscribeAll) }
            #expect(refused?.message.contains("is a plain queue") == true, "\(refused?.message ?? "")")
        }
    }

    /// Numbers were taken before the put: a send that timed out used one, so `sent` counted it
    /// and receivers of envelopes saw a gap where nothing was lost.
    @Test("a send that times out uses no sequence number")
    func timedOutSendUsesNoNumber() throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name, options: .init(capacity: 4096, sendTimeout: .milliseconds(5)))
            let array = try NDArray<UInt8>(shape: [1000], repeating: 1).erased
            var sent: [UInt64] = []
            var timeouts = 0
            while timeouts < 3 {
                do {
                    if case let .sent(sequence) = try sender.send([NamedArray("a", array)], timestamp: .now(), index: nil, meta: ["n": .number(1)]) {
                        sent.append(sequence)
                    }
                } catch let error as TransportError {
                    #expect(error.code == .timeout)
                    timeouts += 1
                }
            }
            #expect(sent == Array(0..<UInt64(sent.count)))
            #expect(sender.statistics.sent == UInt64(sent.count) && sender.statistics.nextSequence == UInt64(sent.count))
            let receiver = try SharedMemoryReceiver(name: name)
            var received: [UInt64] = []
            while let message = try receiver.receive(timeout: .milliseconds(100)) { received.append(message.sequence) }
            try sender.send([NamedArray("a", array)], timestamp: .now(), index: nil, meta: ["n": .number(1)])
            if let message = try receiver.receive(timeout: .seconds(1)) { received.append(message.sequence) }
            #expect(received == Array(0...UInt64(sent.count)))
            #expect(receiver.statistics.lost == 0)
        }
    }

    /// Concurrent sends took turns with a lock held across each put: with a full queue, four of
    /// them gave up after 1, 2, 3 and 4 times `sendTimeout`.
    @Test("sendTimeout bounds a send that waits for another send's turn too")
    func concurrentSendsKeepTheirTimeout() throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name, options: .init(capacity: 4096, sendTimeout: .seconds(1)))
            let array = try NDArray<UInt8>(shape: [1000], repeating: 1).erased
            let message = [NamedArray("a", array)]
            while (try? sender.send(message, timestamp: .now(), index: nil, meta: ["n": .number(1)])) != nil {}
            let waited = Mutex<[Double]>([])
            let group = DispatchGroup()
            for _ in 0..<4 {
                group.enter()
                Thread.detachNewThread {
                    let start = Date()
                    let outcome = Result { () throws(TransportError) in try sender.send(message, timestamp: .now(), index: nil, meta: ["n": .number(1)]) }
                    if case let .failure(error) = outcome { #expect(error.code == .timeout) }
                    waited.withLock { $0.append(Date().timeIntervalSince(start)) }
                    group.leave()
                }
            }
            #expect(group.wait(timeout: .now() + 30) == .success)
            let longest = waited.withLock { $0.max() ?? 0 }
            #expect(longest < 1.9, "a send with a 1 s timeout waited \(longest) s")
        }
    }

    /// A send after `close()` waited for the lock a blocked send held (without limit here).
    @Test("a send after close() is refused at once, even while another send waits for room")
    func sendAfterCloseWhileAnotherWaits() throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name, options: .init(capacity: 4096, sendTimeout: nil))
            let array = try NDArray<UInt8>(shape: [1000], repeating: 1).erased
            let message = [NamedArray("a", array)]
            let filler = try SharedMemorySender(name: name, options: .init(capacity: 4096, sendTimeout: .zero))
            while (try? filler.send(message, timestamp: .now(), index: nil, meta: ["n": .number(1)])) != nil {}
            let blocked = DispatchGroup()
            blocked.enter()
            Thread.detachNewThread {
                _ = try? sender.send(message, timestamp: .now(), index: nil, meta: ["n": .number(1)])
                blocked.leave()
            }
            Thread.sleep(forTimeInterval: 0.2)   // the first send is waiting for room by now
            sender.close()
            let refused = outcome(of: { () -> TransportError.Code? in
                do throws(TransportError) {
                    try sender.send(message, timestamp: .now(), index: nil, meta: ["n": .number(1)])
                    return nil
                } catch {
                    return error.code
                }
            }, after: 0, {}, timeout: 5)
            #expect(refused == .some(.closed))
            // Room for the blocked send, so that it ends.
            let queue = try ArrayQueue.open(name: name)
            while (try? queue.get(timeout: .milliseconds(100))) != nil {}
            #expect(blocked.wait(timeout: .now() + 10) == .success)
        }
    }

    @Test("one array per record travels as a plain queue record, bit-exact, for every dtype", arguments: DType.allCases)
    func singleArrays(dtype: DType) throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name, options: .init(capacity: 1 << 20))
            let receiver = try SharedMemoryReceiver(name: name)
            let array = try AnyNDArray(dtype: dtype, shape: [3, 7]) { (bytes: UnsafeMutableRawBufferPointer) throws(Never) in
                for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
            }
            try sender.send(array, timestamp: Timestamp(nanosecondsSinceEpoch: 42), index: 7)
            let message = try #require(try receiver.receive(timeout: .seconds(1)))
            #expect(message.arrays == [NamedArray("array", array)])
            #expect(message.timestamp.nanosecondsSinceEpoch == 42 && message.index == 7 && message.stream == name)
        }
    }

    @Test("plain ArrayQueue consumers read what a shm sender sends, and the receiver reads what plain producers put")
    func interoperatesWithPlainQueues() throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name)
            let queue = try ArrayQueue.open(name: name)
            try sender.send(try NDArray<Float>(shape: [2], elements: [1.5, -2]))
            #expect(try queue.get(as: Float.self, timeout: .seconds(1)).elements == [1.5, -2])
            let receiver = try SharedMemoryReceiver(name: name)
            try queue.put(try NDArray<Int16>(shape: [3], elements: [1, 2, 3]), index: 5)
            let message = try #require(try receiver.receive(timeout: .seconds(1)))
            #expect(try message["array"]?.typed(as: Int16.self).elements == [1, 2, 3])
            #expect(message.index == 5)
        }
    }

    @Test("several named arrays with metadata travel as one envelope; close sends end")
    func envelopes() throws {
        try withStream { name in
            let sender = try SharedMemorySender(name: name)
            let receiver = try SharedMemoryReceiver(name: name)
            let frame = try NDArray<UInt16>(shape: [4, 4], repeating: 9).erased
            let mask = try NDArray<Bool>(shape: [4, 4], repeating: true).erased
            let empty = try NDArray<Double>(shape: [0], elements: []).erased
            try sender.send([NamedArray("frame", frame), NamedArray("mask", mask), NamedArray("none", empty)],
                            timestamp: .now(), index: 3, meta: ["exposure": .number(0.25), "camera": .string("left")])
            sender.close()
            let message = try #require(try receiver.receive(timeout: .seconds(1)))
            #expect(message.arrays.map(\.name) == ["frame", "mask", "none"])
            #expect(message["frame"] == frame && message["mask"] == mask && message["none"] == empty)
            #expect(message.meta["camera"] == .string("left") && message.index == 3 && message.epoch == sender.epoch)
            guard case .end(let mark)? = try receiver.receiveEvent(timeout: .seconds(1)) else {
                Issue.record("expected the end marker")
                return
            }
            #expect(mark.epoch == sender.epoch && mark.lastSequence == 0)
            #expect(throws: TransportError.self) { try sender.send(frame) }
        }
    }

    @Test("a malformed envelope is counted and skipped; the receiver goes on")
    func malformedEnvelope() throws {
        try withStream { name in
            let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
            let receiver = try SharedMemoryReceiver(name: name)
            try queue.putEnvelope(byteCount: 16, timestamp: .now(), index: nil, timeout: nil) { buffer in
                buffer.storeBytes(of: UInt32(1000).littleEndian, as: UInt32.self)
            }
            try queue.put(try NDArray<UInt8>(shape: [1], elements: [7]))
            let message = try #require(try receiver.receive(timeout: .seconds(1)))
            #expect(try message["array"]?.typed(as: UInt8.self).elements == [7])
            #expect(receiver.statistics.malformed == 1)
        }
    }

    @Test("a message whose header would encode beyond what an envelope holds is refused at the put, not written for readers to skip")
    func oversizedEnvelopeHeader() throws {
        try withStream { name in
            let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
            // 20 000 DEL characters: 20 000 bytes as received, 120 000 once escaped as \u007f.
            let message = ArrayMessage(
                stream: "s", arrays: [NamedArray("a", try NDArray<UInt8>(shape: [1], elements: [1]).erased)], timestamp: .now(),
                meta: ["note": .string(String(repeating: "\u{7F}", count: 20_000))], sequence: 0, epoch: 1)
            let error = #expect(throws: ArrayQueueError.self) { try queue.put(.message(message), asEnvelope: true, timeout: nil) }
            #expect(error?.code == .invalidArgument)
            #expect(queue.isEmpty)
        }
    }

    @Test("a received message with NaN or infinite meta (Python's json.dumps writes them) is refused at the put with the senders' reason, not written as null; a single array keeps its name")
    func receivedMessagesKeepWhatTheyCarry() throws {
        try withStream { name in
            let queue = try ArrayQueue.create(name: name, capacity: 1 << 20)
            let frame = try NDArray<UInt8>(shape: [1], elements: [1]).erased
            for meta in EndpointConsistencyTests.unwritableMeta {
                let message = ArrayMessage(stream: "s", arrays: [NamedArray("a", frame)], timestamp: .now(), meta: meta, sequence: 0, epoch: 1)
                let error = #expect(throws: ArrayQueueError.self) { try queue.put(.message(message), timeout: nil) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message == "meta contains a NaN or infinite number, which JSON cannot carry")
            }
            #expect(queue.isEmpty)
            let named = ArrayMessage(stream: "s", arrays: [NamedArray("frame", frame)], timestamp: .now(), sequence: 0, epoch: 1)
            try queue.put(.message(named), timeout: nil)
            let receiver = try SharedMemoryReceiver(name: name)
            #expect(try receiver.receive(timeout: .seconds(1))?.arrays == [NamedArray("frame", frame)])
        }
    }

    @Test("close() ends a receive blocked in another thread at once")
    func closeUnblocks() throws {
        let name = "t-shm-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? ArrayQueue.remove(name: name) }
        let receiver = try SharedMemoryReceiver(name: name)
        let result = outcome(of: { () -> String in
            do throws(TransportError) {
                _ = try receiver.receiveEvent(timeout: .seconds(30))
                return "returned"
            } catch {
                return error.code == .closed ? "closed" : "\(error)"
            }
        }, after: 0.1, { receiver.close() }, timeout: 30)
        #expect(result == "closed")
    }

    @Test("a receive with nothing to take returns nil after its timeout")
    func timeout() throws {
        try withStream { name in
            let receiver = try SharedMemoryReceiver(name: name)
            #expect(try receiver.receive(timeout: .milliseconds(50)) == nil)
        }
    }
}
