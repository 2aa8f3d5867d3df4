import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Synchronization
import Testing

/// The same-host fast path of push/pull: pullers on the pusher's host share one queue of the
/// pusher's. `aq recv` runs as separate puller processes; this process pushes.
@Suite("Same-host fast path for push/pull", .serialized, .timeLimit(.minutes(3)))
struct FastPathPushPullTests {
    static let count = 400
    static let quick = Duration.milliseconds(100)

    func pusher(capacity: Int = 64 << 20) throws -> ZeroMQSender {
        try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()],
            options: .init(sendTimeout: .seconds(5), heartbeatInterval: Self.quick, fastPathCapacity: capacity))
    }

    func puller(of sender: ZeroMQSender) throws -> ZeroMQReceiver {
        try ZeroMQReceiver(.pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, detectsLoss: false), logger: quietLogger)
    }

    /// Runs one `aq recv --pattern pushpull` process per entry of `privateSharedMemory` (true:
    /// in a /dev/shm of its own), each taking `count` records into a directory, while this
    /// process pushes paced pattern arrays.
    func pullInProcesses(_ privateSharedMemory: [Bool], count: Int = Self.count) throws -> [(run: ProcessRun, saved: [(sequence: UInt64, array: AnyNDArray)])] {
        let sender = try pusher()
        let paced = PacedPublisher(sender, pause: 0.001)
        paced.start()
        defer { paced.stop(); sender.close() }
        let directories = try privateSharedMemory.map { _ in try temporaryDirectory("pull") }
        defer { for directory in directories { try? FileManager.default.removeItem(at: directory) } }
        let endpoint = sender.boundEndpoints[0].description
        let runs = Mutex<[Int: ProcessRun]>([:])
        let group = DispatchGroup()
        for (position, isPrivate) in privateSharedMemory.enumerated() {
            DispatchQueue.global().async(group: group) {
                let arguments = ["recv", endpoint, "--pattern", "pushpull", "--count", "\(count)", "--out-dir", directories[position].path, "--verbose"]
                if let run = try? runAQ(arguments, privateSharedMemory: isPrivate) { runs.withLock { $0[position] = run } }
            }
        }
        #expect(group.wait(timeout: .now() + 90) == .success)
        paced.stop()
        let finished = runs.withLock { $0 }
        return try privateSharedMemory.indices.map { position in
            let run = try #require(finished[position], "puller \(position) did not run")
            return (run, try savedArrays(in: directories[position]))
        }
    }

    func expectPatternArrays(_ saved: [(sequence: UInt64, array: AnyNDArray)], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (sequence, array) in saved {
            #expect(array == (try patternArray(.uint16, [64, 64], message: Int(sequence))), "array \(sequence) differs", sourceLocation: sourceLocation)
        }
    }

    @Test("a puller process on the pusher's host switches to shared memory: everything bit-exact, nothing lost, repeated or reordered")
    func sameHost() throws {
        let (run, saved) = try pullInProcesses([false])[0]
        #expect(run.status == 0, "\(run.errors)")
        #expect(summaryValue("path", in: run.errors) == "shared-memory", "\(run.errors)")
        #expect(summaryValue("lost", in: run.errors) == "0" && summaryValue("out-of-order", in: run.errors) == "0", "\(run.errors)")
        let throughSharedMemory = Int(summaryValue("through-shared-memory", in: run.errors) ?? "") ?? 0
        #expect(throughSharedMemory > 0 && throughSharedMemory <= Self.count)
        #expect(run.errors.contains("switched to shared memory"), "the switch is logged")
        #expect(saved.count == Self.count)
        expectConsecutive(saved.map(\.sequence))
        try expectPatternArrays(saved)
    }

    @Test("a puller process with a private /dev/shm stays on the network and receives everything bit-exact",
          .enabled(if: canUsePrivateSharedMemory, "needs root and a working `unshare --mount` to give the puller a private /dev/shm"))
    func privateSharedMemory() throws {
        let (run, saved) = try pullInProcesses([true])[0]
        #expect(run.status == 0, "\(run.errors)")
        #expect(summaryValue("path", in: run.errors) == "network", "\(run.errors)")
        #expect(summaryValue("through-shared-memory", in: run.errors) == "0" && summaryValue("lost", in: run.errors) == "0")
        #expect(run.errors.contains("cannot open the publisher's registry"), "the reason is logged: \(run.errors)")
        #expect(saved.count == Self.count)
        expectConsecutive(saved.map(\.sequence))
        try expectPatternArrays(saved)
    }

    @Test("two puller processes on the pusher's host share its queue: each record reaches one of them, each in order")
    func twoLocalPullers() throws {
        // Each puller takes five times as many records as the single-puller tests: under a loaded
        // CI run, one puller once took all of 400 over tcp before its switch (pusher seq 1420),
        // and this test is about sharing the queue once both have switched.
        let count = 5 * Self.count
        let results = try pullInProcesses([false, false], count: count)
        for (run, saved) in results {
            #expect(run.status == 0, "\(run.errors)")
            #expect(summaryValue("path", in: run.errors) == "shared-memory", "\(run.errors)")
            #expect(saved.count == count)
            let sequences = saved.map(\.sequence)
            #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 }, "one puller's records are in order")
            try expectPatternArrays(saved)
        }
        let first = Set(results[0].saved.map(\.sequence)), second = Set(results[1].saved.map(\.sequence))
        #expect(first.isDisjoint(with: second), "no record reached both pullers: \(first.intersection(second).sorted().prefix(5))")
        // Until the first puller stopped, every record reached one of them.
        let both = first.union(second)
        let end = min(first.max() ?? 0, second.max() ?? 0)
        let missing = ((both.min() ?? 0)...max(end, both.min() ?? 0)).filter { !both.contains($0) }
        #expect(missing.isEmpty, "records \(missing.prefix(5)) reached neither puller")
    }

    @Test("a puller that joins while the pusher waits for room in the shared queue is attached during that wait, and the wait ends")
    func attachWhileThePusherWaits() throws {
        // 64 KiB records in a 1 MiB shared queue: it fills at once when its one puller stops reading.
        let shape = [128, 256]
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()],
            options: .init(sendTimeout: .seconds(30), heartbeatInterval: Self.quick, fastPathCapacity: 1 << 20))
        let first = try puller(of: sender), second = try puller(of: sender)
        defer { sender.close(); first.close(); second.close() }
        // The first puller switches, takes a few records, then stops reading.
        var firstSequences: [UInt64] = []
        let switchDeadline = Date().addingTimeInterval(20)
        while first.path != .sharedMemory || firstSequences.count < 5, Date() < switchDeadline {
            try sender.send(try patternArray(.uint16, shape, message: Int(sender.statistics.nextSequence)))
            while let message = try first.receive(timeout: .milliseconds(5)) { firstSequences.append(message.sequence) }
        }
        try #require(first.path == .sharedMemory)
        let total = 200
        let sent = Atomic<Int>(0), failed = Mutex<String?>(nil), done = Atomic<Bool>(false)
        Thread.detachNewThread {
            do {
                while sent.load(ordering: .relaxed) < total {
                    try sender.send(try patternArray(.uint16, shape, message: Int(sender.statistics.nextSequence)))
                    sent.add(1, ordering: .relaxed)
                }
            } catch {
                failed.withLock { $0 = "\(error)" }
            }
            done.store(true, ordering: .releasing)
        }
        // The pusher now waits for room (the queue holds about 14 records).
        let started = eventually(within: 10) { sent.load(ordering: .relaxed) > 0 }
        #expect(started)
        Thread.sleep(forTimeInterval: 0.3)
        let sentBefore = sent.load(ordering: .relaxed)
        #expect(sentBefore < total, "the pusher should be waiting for room")
        // The second puller sees the offer only if the waiting pusher still makes it, and takes
        // records only once the waiting pusher attached it.
        var secondSequences: [UInt64] = []
        let deadline = Date().addingTimeInterval(10)
        while !done.load(ordering: .acquiring), Date() < deadline {
            while let message = try second.receive(timeout: .milliseconds(5)) { secondSequences.append(message.sequence) }
        }
        while let message = try second.receive(timeout: .milliseconds(50)) { secondSequences.append(message.sequence) }
        let finished = done.load(ordering: .acquiring)
        #expect(finished, "the pusher still waits after 10 s: sent \(sent.load(ordering: .relaxed)) of \(total), second puller on \(second.path) with \(secondSequences.count) records")
        let failure = failed.withLock { $0 }
        #expect(failure == nil)
        #expect(second.path == .sharedMemory && second.statistics.receivedThroughSharedMemory > 0)
        #expect(zip(secondSequences, secondSequences.dropFirst()).allSatisfy { $0 < $1 }, "in order")
        while let message = try first.receive(timeout: .milliseconds(50)) { firstSequences.append(message.sequence) }
        #expect(Set(firstSequences).isDisjoint(with: secondSequences), "no record reached both pullers")
        let all = Set(firstSequences + secondSequences)
        #expect(all.count == firstSequences.count + secondSequences.count)
        #expect(Set((all.min() ?? 0)...(all.max() ?? 0)) == all, "nothing lost between the first and the last record")
    }

    @Test("when the pusher closes with its shared queue full, each switched puller still gets every record, then end")
    func endWhenTheSharedQueueIsFull() throws {
        let shape = [128, 256]   // 64 KiB records: the 1 MiB shared queue holds about 14
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()],
            options: .init(sendTimeout: .milliseconds(300), heartbeatInterval: Self.quick, fastPathCapacity: 1 << 20))
        let pullers = [try puller(of: sender), try puller(of: sender)]
        defer { sender.close(); pullers.forEach { $0.close() } }
        var received: [[UInt64]] = [[], []]
        let switchDeadline = Date().addingTimeInterval(20)
        while pullers.contains(where: { $0.path != .sharedMemory }), Date() < switchDeadline {
            try sender.send(try patternArray(.uint16, shape, message: Int(sender.statistics.nextSequence)))
            for (position, puller) in pullers.enumerated() {
                while let message = try puller.receive(timeout: .milliseconds(5)) { received[position].append(message.sequence) }
            }
        }
        try #require(pullers.allSatisfy { $0.path == .sharedMemory })
        // Nobody reads: the pusher fills the shared queue until a send times out, then closes.
        var full = false
        for _ in 0..<100 where !full {
            let array = try patternArray(.uint16, shape, message: Int(sender.statistics.nextSequence))
            do throws(TransportError) {
                try sender.send(array)
            } catch {
                #expect(error.code == .timeout)
                full = true
            }
        }
        try #require(full, "the shared queue never filled")
        // Then smaller and smaller records, down to none: what room is left is less than a
        // message without arrays, the size of `end`.
        var elements = shape[0] * shape[1] / 2
        while elements > 0 {
            let array = try patternArray(.uint16, [elements], message: Int(sender.statistics.nextSequence))
            do throws(TransportError) { try sender.send(array) } catch { elements /= 2 }
        }
        var roomForNone = false
        while !roomForNone {
            do throws(TransportError) { try sender.send([]) } catch { roomForNone = true }
        }
        let total = sender.statistics.nextSequence
        sender.close()
        var ended = [false, false]
        let deadline = Date().addingTimeInterval(15)
        while ended.contains(false), Date() < deadline {
            for (position, puller) in pullers.enumerated() where !ended[position] {
                switch try puller.receiveEvent(timeout: .milliseconds(20)) {
                case let .message(message)?: received[position].append(message.sequence)
                case .end?: ended[position] = true
                default: break
                }
            }
        }
        #expect(ended == [true, true], "end reached \(ended)")
        #expect(Set(received[0]).isDisjoint(with: received[1]))
        #expect(Set(received[0] + received[1]) == Set(0..<total), "every record reached a puller: \(received[0].count) + \(received[1].count) of \(total)")
        for list in received { #expect(zip(list, list.dropFirst()).allSatisfy { $0 < $1 }) }
    }

    @Test("when the pusher closes, each switched puller gets everything sent before, then end through shared memory")
    func endThroughSharedMemory() throws {
        let sender = try pusher()
        let pullers = [try puller(of: sender), try puller(of: sender)]
        defer { sender.close(); pullers.forEach { $0.close() } }
        let received = Mutex<[[UInt64]]>([[], []])
        let ended = Atomic<Int>(0)
        for (position, puller) in pullers.enumerated() {
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline {
                    switch try? puller.receiveEvent(timeout: .milliseconds(100)) {
                    case let .message(message)?: received.withLock { $0[position].append(message.sequence) }
                    case .end?: ended.add(1, ordering: .relaxed); return
                    default: continue
                    }
                }
            }
        }
        var sent = 0
        let switchDeadline = Date().addingTimeInterval(20)
        while pullers.contains(where: { $0.path != .sharedMemory }) && Date() < switchDeadline {
            try sender.send(try patternArray(.uint16, [64, 64], message: sent))
            sent += 1
            Thread.sleep(forTimeInterval: 0.001)
        }
        #expect(pullers.allSatisfy { $0.path == .sharedMemory })
        #expect(sender.statistics.sharedMemorySubscribers == 2)
        for _ in 0..<200 {
            try sender.send(try patternArray(.uint16, [64, 64], message: sent))
            sent += 1
        }
        sender.close()
        #expect(eventually(within: 20) { ended.load(ordering: .relaxed) == 2 })
        let lists = received.withLock { $0 }
        #expect(Set(lists[0] + lists[1]) == Set((0..<sent).map(UInt64.init)) && lists[0].count + lists[1].count == sent, "every record reached exactly one puller")
        for list in lists { #expect(zip(list, list.dropFirst()).allSatisfy { $0 < $1 }) }
        // Through shared memory in all, not each: the pullers share one queue, and under load one
        // of them can take all 200 before the other runs (its end mark came that way, above).
        #expect(pullers.map { $0.statistics.receivedThroughSharedMemory }.reduce(0, +) > 0)
    }

    @Test("a message larger than the shared queue sends the pullers back to the network for good, in order and without loss")
    func oversizeRetiresTheSharedQueue() throws {
        let sender = try pusher(capacity: 1 << 20)
        let receiver = try puller(of: sender)
        defer { sender.close(); receiver.close() }
        var sequences: [UInt64] = []
        var sent = 0
        let switchDeadline = Date().addingTimeInterval(20)
        while receiver.path != .sharedMemory && Date() < switchDeadline {
            try sender.send(try patternArray(.uint16, [64, 64], message: sent))
            sent += 1
            while let message = try receiver.receive(timeout: .milliseconds(1)) { sequences.append(message.sequence) }
        }
        try #require(receiver.path == .sharedMemory)
        // 4 MiB: it can never fit the 1 MiB queue. The pusher waits until the puller emptied it.
        let big = try patternArray(.uint16, [2048, 1024], message: sent)
        let bigSent = outcome(of: { (try? sender.send(big)) != nil }, after: 0, {
            while sequences.count < sent + 1, let message = try? receiver.receive(timeout: .seconds(10)) {
                let array = message.arrays[0].array
                #expect(array == (try? patternArray(array.dtype, array.shape, message: Int(message.sequence))), "message \(message.sequence) differs")
                sequences.append(message.sequence)
            }
        }, timeout: 10)
        #expect(bigSent == true)
        expectConsecutive(sequences)
        #expect(sequences.count == sent + 1)
        // The `leave` in the puller's own queue is read once the socket has nothing more.
        #expect(eventually(within: 10) { _ = try? receiver.receive(timeout: .milliseconds(10)); return receiver.path == .network })
        #expect(receiver.statistics.fastPathProblem?.contains("shared queue cannot take") == true, "\(receiver.statistics.fastPathProblem ?? "")")
        #expect(sender.statistics.sharedMemorySubscribers == 0)
        // And it stays there: no more offers.
        try sender.send(try patternArray(.uint16, [64, 64], message: sent + 1))
        #expect(try receiver.receive(timeout: .seconds(5))?.sequence == UInt64(sent + 1))
        #expect(receiver.path == .network)
    }

    /// Sends small numbered messages until `puller` is on shared memory (at most 20 s), taking
    /// and dropping what it receives, then takes what is left.
    func sendUntilOnSharedMemory(_ sender: ZeroMQSender, _ puller: ZeroMQReceiver) throws {
        let deadline = Date().addingTimeInterval(20)
        while puller.path != .sharedMemory, Date() < deadline {
            try sender.send(try patternArray(.uint16, [16, 16], message: Int(sender.statistics.nextSequence)))
            while try puller.receive(timeout: .milliseconds(5)) != nil {}
        }
        try #require(puller.path == .sharedMemory)
        while try puller.receive(timeout: .milliseconds(100)) != nil {}
    }

    /// A pusher (sends time out after 300 ms) whose one local puller switched, read everything
    /// it was sent, and left with `count` records unread in the shared queue: their sequence
    /// numbers. The pusher has no puller at all then, not even a connection that libzmq would
    /// still deal a message to (as to any puller that leaves, which loses it).
    func pusherWithLeftovers(count: Int = 5, sendTimeout: Duration = .milliseconds(300), linger: Duration = .seconds(1)) throws -> (ZeroMQSender, [UInt64]) {
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()],
            options: .init(sendTimeout: sendTimeout, heartbeatInterval: Self.quick, linger: linger))
        let local = try puller(of: sender)
        try sendUntilOnSharedMemory(sender, local)
        var queued: [UInt64] = []
        for _ in 0..<count {
            let sequence = sender.statistics.nextSequence
            try #require(try sender.send(try patternArray(.uint16, [16, 16], message: Int(sequence))) == .sent(sequence: sequence))
            queued.append(sequence)
        }
        local.close()
        #expect(eventually(within: 10) { sender.statistics.peersDisconnected == 1 && sender.statistics.peers == 0 })
        return (sender, queued)
    }

    /// What a puller on the network receives until `end`, or until no message came for 500 ms
    /// (heartbeats keep coming): each message's sequence number, its array checked.
    func drain(_ receiver: ZeroMQReceiver, sourceLocation: SourceLocation = #_sourceLocation) throws -> (sequences: [UInt64], ended: Bool) {
        var sequences: [UInt64] = []
        var quietUntil = Date().addingTimeInterval(0.5)
        while Date() < quietUntil {
            switch try receiver.receiveEvent(timeout: .milliseconds(100)) {
            case let .message(message)?:
                #expect(message.arrays[0].array == (try patternArray(.uint16, [16, 16], message: Int(message.sequence))), sourceLocation: sourceLocation)
                sequences.append(message.sequence)
                quietUntil = Date().addingTimeInterval(0.5)
            case .end?: return (sequences, true)
            case .heartbeat?, nil: continue
            }
        }
        return (sequences, false)
    }

    @Test("a send that times out while the records left in the shared queue go to the socket loses none of them")
    func leftoversSurviveATimedOutSend() throws {
        let (sender, queued) = try pusherWithLeftovers()
        defer { sender.close() }
        #expect(eventually(within: 5) { sender.statistics.sharedMemorySubscribers == 0 })
        // No puller anywhere: each send times out moving the first leftover to the socket.
        for _ in 0..<2 {
            #expect { try sender.send(try patternArray(.uint16, [16, 16])) } throws: { ($0 as? TransportError)?.code == .timeout }
        }
        let remote = try ZeroMQReceiver(
            .pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, fastPath: .disabled), logger: quietLogger)
        defer { remote.close() }
        #expect(eventually(within: 10) { sender.statistics.peers == 1 })
        let last = sender.statistics.nextSequence
        #expect(try sender.send(try patternArray(.uint16, [16, 16], message: Int(last))) == .sent(sequence: last))
        let (received, _) = try drain(remote)
        #expect(received == queued + [last], "the leftovers, in order, then the message")
    }

    @Test("when the last local puller has left, the records it left in the shared queue go to the network's pullers without another send")
    func leftoversMoveWhileIdle() throws {
        let (sender, queued) = try pusherWithLeftovers()
        defer { sender.close() }
        let remote = try ZeroMQReceiver(
            .pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, fastPath: .disabled), logger: quietLogger)
        defer { remote.close() }
        var received: [UInt64] = []
        let deadline = Date().addingTimeInterval(10)
        while received.count < queued.count, Date() < deadline {
            if let message = try remote.receive(timeout: .milliseconds(100)) { received.append(message.sequence) }
        }
        #expect(received == queued)
    }

    /// While a local puller is attached, the pusher's heartbeats carry the last `seq`, in the
    /// shared queue: a puller on the network that got one and then the records left there used
    /// to count each as out of order, though it delivers them in increasing order.
    @Test("a puller on the network that heard the pusher's heartbeats while a local puller was attached takes its leftovers in order, none out of order")
    func leftoversAfterHeartbeatsAreInOrder() throws {
        let sender = try ZeroMQSender(
            .push, stream: "pp", bind: [try loopbackWildcard()], options: .init(sendTimeout: .seconds(5), heartbeatInterval: Self.quick))
        defer { sender.close() }
        let remote = try ZeroMQReceiver(
            .pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, detectsLoss: false, fastPath: .disabled),
            logger: quietLogger)
        defer { remote.close() }
        #expect(eventually(within: 10) { sender.statistics.peers == 1 })
        let local = try puller(of: sender)
        try sendUntilOnSharedMemory(sender, local)
        var queued: [UInt64] = []
        for _ in 0..<5 {
            let sequence = sender.statistics.nextSequence
            try #require(try sender.send(try patternArray(.uint16, [16, 16], message: Int(sequence))) == .sent(sequence: sequence))
            queued.append(sequence)
        }
        // PUSH deals the heartbeats round robin between the two pullers: of four, the remote one gets some.
        let heartbeats = sender.statistics.heartbeats
        #expect(eventually(within: 10) { sender.statistics.heartbeats >= heartbeats + 4 })
        local.close()
        var received: [UInt64] = []
        var heardAhead = false
        let deadline = Date().addingTimeInterval(10)
        while received.suffix(queued.count) != queued[...], Date() < deadline {
            switch try remote.receiveEvent(timeout: .milliseconds(100)) {
            case let .message(message)?: received.append(message.sequence)
            case let .heartbeat(mark)?:
                if let last = mark.lastSequence, last >= queued[queued.count - 1], !received.contains(queued[0]) { heardAhead = true }
            default: continue
            }
        }
        #expect(Array(received.suffix(queued.count)) == queued, "received \(received)")
        #expect(received == received.sorted())
        #expect(heardAhead, "no heartbeat announced the records in the shared queue before they came")
        #expect(remote.statistics.outOfOrder == 0)
    }

    @Test("a pusher that closes with records left in the shared queue and no local puller sends them on the socket within its linger period, then end")
    func leftoversGoOutAtClose() throws {
        let (sender, queued) = try pusherWithLeftovers(linger: .seconds(10))
        // The pusher closes while no puller is connected at all; one connects while it waits for room.
        let remote = Mutex<ZeroMQReceiver?>(nil)
        defer { remote.withLock { $0?.close() } }
        let closed = outcome(of: { sender.close(); return true }, after: 0.3, {
            let receiver = try? ZeroMQReceiver(
                .pull, connect: sender.boundEndpoints, options: .init(heartbeatInterval: Self.quick, fastPath: .disabled), logger: quietLogger)
            remote.withLock { $0 = receiver }
        }, timeout: 20)
        #expect(closed == true)
        let receiver = try #require(remote.withLock { $0 })
        let (received, ended) = try drain(receiver)
        #expect(received == queued && ended, "received \(received) of \(queued), end: \(ended)")
        #expect(sender.statistics.sharedMemoryLost == 0)
    }

    @Test("records left in the shared queue that no puller can take before the pusher's linger period ends are counted as lost")
    func leftoversLostAtCloseAreCounted() throws {
        let (sender, queued) = try pusherWithLeftovers(linger: .milliseconds(200))
        sender.close()
        #expect(sender.statistics.sharedMemoryLost == UInt64(queued.count))
    }

    @Test("a message whose header is too long for any reader is refused, and the pusher's local pullers stay on shared memory")
    func oversizedHeaderIsRefused() throws {
        let sender = try pusher()
        let receiver = try puller(of: sender)
        defer { sender.close(); receiver.close() }
        try sendUntilOnSharedMemory(sender, receiver)
        let next = sender.statistics.nextSequence
        let meta: [String: JSONValue] = ["note": .string(String(repeating: "x", count: WireHeader.maximumHeaderBytes))]
        #expect { try sender.send(try patternArray(.uint16, [16, 16]), meta: meta) } throws: { ($0 as? TransportError)?.code == .invalidArgument }
        #expect(sender.statistics.nextSequence == next, "a refused message takes no sequence number")
        #expect(sender.statistics.sharedMemorySubscribers == 1)
        try sender.send(try patternArray(.uint16, [16, 16], message: Int(next)))
        #expect(try receiver.receive(timeout: .seconds(5))?.sequence == next)
        #expect(receiver.path == .sharedMemory && receiver.statistics.fastPathProblem == nil)
    }

    @Test("a puller whose pusher is killed (kill -9) goes back to the network and removes the queues left behind")
    func pusherKilled() throws {
        let directory = try temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("a.npy").path
        try NPY.write(try patternArray(.uint16, [64, 64]), to: file)
        let endpoint = "tcp://127.0.0.1:\(try freeLoopbackPort())"
        let pusher = Process()
        pusher.executableURL = URL(fileURLWithPath: aqExecutable)
        pusher.arguments = ["send", endpoint, file, "--repeat", "1000000000", "--pattern", "pushpull"]
        pusher.standardOutput = FileHandle.nullDevice
        pusher.standardError = FileHandle.nullDevice
        try pusher.run()
        defer {
            if pusher.isRunning { kill(pusher.processIdentifier, SIGKILL) }
            pusher.waitUntilExit()
        }
        let receiver = try ZeroMQReceiver(.pull, connect: [try Endpoint(endpoint)], logger: quietLogger)
        defer { receiver.close() }
        let switchDeadline = Date().addingTimeInterval(20)
        while receiver.path != .sharedMemory, Date() < switchDeadline { _ = try receiver.receive(timeout: .milliseconds(50)) }
        try #require(receiver.path == .sharedMemory)
        let registries = ArrayQueue.allNames().filter { name in
            name.hasPrefix("aqfp.") && name.count == 37 && (try? ArrayQueue.open(name: name))?.info.creatorPID == pusher.processIdentifier
        }
        try #require(registries.count == 1, "\(registries)")
        #expect(ArrayQueue.exists(name: registries[0] + ".shared"))

        kill(pusher.processIdentifier, SIGKILL)
        pusher.waitUntilExit()
        let fallbackDeadline = Date().addingTimeInterval(10)
        while receiver.path != .network, Date() < fallbackDeadline { _ = try receiver.receive(timeout: .milliseconds(50)) }
        #expect(receiver.path == .network)
        #expect(receiver.statistics.fastPathProblem?.contains("is gone") == true, "\(receiver.statistics.fastPathProblem ?? "")")
        #expect(receiver.statistics.outOfOrder == 0)
        #expect(ArrayQueue.allNames().filter { $0.hasPrefix(registries[0]) }.isEmpty, "the registry and the shared and own queues are removed")
    }
}
