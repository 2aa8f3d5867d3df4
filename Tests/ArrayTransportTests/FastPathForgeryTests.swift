@_spi(Transport) import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import Foundation
import Glibc
import SystemPackage
import Testing

/// A raw ZeroMQ socket with optional CURVE, played by the test: a publisher that sends
/// whatever headers it likes, or a subscriber that reads them undecoded.
final class CurvePeer {
    private var socket: ZMQSocket
    private(set) var bound: Endpoint?

    init(type: Int32, curve: CurveSecurity?, bind endpoint: Endpoint? = nil, connect: Endpoint? = nil) throws {
        socket = try ZMQSocket(ZMQContext.shared(), type: type, lingerMilliseconds: 0)
        if let curve { try socket.configure(curve) }
        if type == ZMQ.sub { try socket.subscribe("") }
        if let endpoint { bound = try socket.bind(endpoint) }
        if let connect { try socket.connect(connect) }
    }

    /// Sends a topic and a header, dropping them if no subscriber is there yet.
    func send(topic: String, header: WireHeader) throws {
        var topicFrame = try ZMQMessage(copying: topic)
        var headerFrame = try ZMQMessage(copying: header.encoded())
        guard try socket.send(&topicFrame, more: true, dontWait: true) else { return }
        _ = try socket.send(&headerFrame, more: false, dontWait: true)
    }

    /// The header of the next message, waiting up to `seconds`.
    func receiveHeader(within seconds: Double) throws -> WireHeader? {
        let deadline = ArrayTransport.Sys.monotonicNanoseconds() + Int64(seconds * 1e9)
        guard try socket.wait(for: ZMQ.pollIn, deadline: deadline) else { return nil }
        var frames: [[UInt8]] = []
        while let frame = try socket.receive(dontWait: true) {
            frames.append(Array(frame.bytes))
            if !frame.hasMore { break }
        }
        guard frames.count >= 2 else { return nil }
        return try frames[1].withUnsafeBytes { bytes throws(TransportError) in try WireHeader.decode(bytes, maximumArrays: 16) }
    }

    func close() { socket.close() }
}

/// The names of files created in `/dev/shm` while it lives (inotify), to catch queues that are
/// made and removed again at once.
final class SharedMemoryCreations {
    private let fd: Int32

    init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0, inotify_add_watch(fd, "/dev/shm", UInt32(IN_CREATE)) >= 0 else {
            throw TransportError(.systemCall, "cannot watch /dev/shm", function: "inotify_add_watch", errno: Errno(rawValue: errno))
        }
    }

    /// The names created since the last call.
    func names() -> [String] {
        var names: [String] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return names }
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= count {
                let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let name = buffer[(offset + headerSize)..<min(count, offset + headerSize + length)].prefix { $0 != 0 }
                names.append(String(decoding: name, as: UTF8.self))
                offset += headerSize + length
            }
        }
    }

    deinit { Glibc.close(fd) }
}

@Suite("Same-host fast path: forged and replayed offers", .serialized, .timeLimit(.minutes(2)))
struct FastPathForgeryTests {
    static let stream = "forged"

    private func offer(nonce: String, serverKey: String? = nil) -> WireHeader {
        WireHeader.mark(.heartbeat, stream: Self.stream, epoch: 99, nextSequence: 0, fastPath: .offer(
            bootID: HostIdentity.bootID ?? "", registry: HostIdentity.registryName(nonce: nonce), nonce: nonce, serverKey: serverKey))
    }

    @Test("a flood of forged offers with fresh nonces makes the subscriber create no queue (no registry, or another user's)")
    func forgedOfferFlood() throws {
        let watcher = try SharedMemoryCreations()
        let publisher = try CurvePeer(type: ZMQ.pub, curve: nil, bind: try loopbackWildcard())
        defer { publisher.close() }
        let receiver = try ZeroMQReceiver(.subscribeAll, connect: [try #require(publisher.bound)], options: .init(heartbeatInterval: .milliseconds(100)), logger: quietLogger)
        defer { receiver.close() }
        // Subscribed once a plain heartbeat gets through.
        #expect(eventually(within: 10) {
            try? publisher.send(topic: Self.stream, header: WireHeader.mark(.heartbeat, stream: Self.stream, epoch: 99, nextSequence: 0))
            return ((try? receiver.receiveEvent(timeout: .milliseconds(20))) ?? nil) != nil
        })

        // Registries of another user (as root: files given to nobody), which a forger can make.
        var nonces: [String] = []
        var foreignRegistries: [String] = []
        defer { for name in foreignRegistries { try? ArrayQueue.remove(name: name) } }
        if getuid() == 0 {
            for _ in 0..<3 {
                let nonce = HostIdentity.randomHex()
                let name = HostIdentity.registryName(nonce: nonce)
                _ = try ArrayQueue.create(name: name, capacity: FastPathPublisher.registryCapacity)
                foreignRegistries.append(name)
                #expect(chown(try ArrayQueue.segmentPath(name: name), 65534, 65534) == 0)
                nonces.append(nonce)
            }
        }
        // Then offers whose registries do not exist, each with a fresh nonce.
        for _ in 0..<60 { nonces.append(HostIdentity.randomHex()) }
        for nonce in nonces {
            try publisher.send(topic: Self.stream, header: offer(nonce: nonce))
            _ = try receiver.receiveEvent(timeout: .milliseconds(10))
        }
        _ = try receiver.receiveEvent(timeout: .milliseconds(200))

        let created = watcher.names().filter { name in nonces.contains { name.hasPrefix("aq." + HostIdentity.subscriberPrefix(nonce: $0)) } }
        #expect(created.isEmpty, "the subscriber created queues for forged offers: \(created.prefix(5))")
        #expect(receiver.path == .network)
        let problem = receiver.statistics.fastPathProblem ?? ""
        #expect(problem.contains("registry"), "\(problem)")
    }

    @Test("with CURVE, an offer replayed by another publisher does not switch the subscriber; the real publisher's does")
    func replayedOfferUnderCurve() throws {
        let realKeys = try CurveKeys.generate()
        let real = try ZeroMQSender(.publish, stream: Self.stream, bind: [try loopbackWildcard()], options: .init(
            heartbeatInterval: .milliseconds(100), linger: .zero, curve: .server(realKeys)), logger: quietLogger)
        defer { real.close() }
        // The attacker learns the real publisher's offer (here as one of its clients).
        let eavesdropper = try CurvePeer(type: ZMQ.sub, curve: .client(try CurveKeys.generate(), serverPublicKey: realKeys.publicKey), connect: real.boundEndpoints[0])
        defer { eavesdropper.close() }
        var realOffer: FastPathControl?
        #expect(eventually(within: 10) {
            let control = (try? eavesdropper.receiveHeader(within: 0.2))??.fastPath
            if case .offer? = control { realOffer = control }
            return realOffer != nil
        })
        guard case let .offer(bootID, registry, nonce, serverKey)? = realOffer else { return }
        #expect(serverKey == realKeys.publicKey)

        // The attacker's own CURVE publisher replays it: once verbatim, once claiming its own key.
        let attackerKeys = try CurveKeys.generate()
        for claimed in [serverKey, attackerKeys.publicKey] {
            let attacker = try CurvePeer(type: ZMQ.pub, curve: .server(attackerKeys), bind: try loopbackWildcard())
            defer { attacker.close() }
            let victim = try ZeroMQReceiver(.subscribeAll, connect: [try #require(attacker.bound)], options: .init(
                heartbeatInterval: .milliseconds(100), curve: .client(try CurveKeys.generate(), serverPublicKey: attackerKeys.publicKey)),
                logger: quietLogger)
            defer { victim.close() }
            let replay = WireHeader.mark(.heartbeat, stream: Self.stream, epoch: real.epoch, nextSequence: 0, fastPath: .offer(
                bootID: bootID, registry: registry, nonce: nonce, serverKey: claimed))
            let deadline = Date().addingTimeInterval(5)
            var sawHeartbeat = false
            while Date() < deadline, victim.path == .network {
                try attacker.send(topic: Self.stream, header: replay)
                if case .heartbeat? = try victim.receiveEvent(timeout: .milliseconds(20)) { sawHeartbeat = true }
            }
            #expect(sawHeartbeat, "the replayed heartbeats did not reach the victim")
            #expect(victim.path == .network, "claimed key \(claimed ?? "none"): the victim switched to another publisher's shared memory")
        }

        // The real publisher's own subscriber does switch (the check does not stop the fast path).
        let subscriber = try ZeroMQReceiver(.subscribeAll, connect: real.boundEndpoints, options: .init(
            heartbeatInterval: .milliseconds(100), curve: .client(try CurveKeys.generate(), serverPublicKey: realKeys.publicKey)), logger: quietLogger)
        defer { subscriber.close() }
        #expect(eventually(within: 15) {
            _ = try? real.send(try patternArray(.uint8, [8]))
            _ = try? subscriber.receiveEvent(timeout: .milliseconds(20))
            return subscriber.path == .sharedMemory
        })
    }

    @Test("failed attempts back off: 0.5 s, doubling up to 30 s; a success clears it")
    func backoff() {
        var link = FastPathLink(mode: .automatic)
        #expect(link.mayAttempt(now: 0))
        var waits: [Int64] = []
        for _ in 0..<10 {
            link.noteAttempt(succeeded: false, now: 0)
            waits.append(link.nextAttemptAllowed)
            #expect(!link.mayAttempt(now: link.nextAttemptAllowed - 1) && link.mayAttempt(now: link.nextAttemptAllowed))
        }
        #expect(waits.prefix(6) == [500_000_000, 1_000_000_000, 2_000_000_000, 4_000_000_000, 8_000_000_000, 16_000_000_000])
        #expect(waits.dropFirst(6).allSatisfy { $0 == 30_000_000_000 })
        link.noteAttempt(succeeded: true, now: 0)
        #expect(link.mayAttempt(now: 0) && link.failures == 0)
    }
}
