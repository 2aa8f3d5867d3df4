@testable import ArrayTransport
import Testing

@Suite("Endpoint parsing")
struct EndpointTests {
    @Test(arguments: [
        ("tcp://*:5555", Endpoint.tcp(host: "*", port: 5555)),
        ("tcp://127.0.0.1:*", .tcp(host: "127.0.0.1", port: nil)),
        ("tcp://[::1]:6000", .tcp(host: "::1", port: 6000)),
        ("tcp://camera-host.example:65535", .tcp(host: "camera-host.example", port: 65535)),
        ("tcp://eth0:1", .tcp(host: "eth0", port: 1)),
        ("ipc:///tmp/aq/camera0", .ipc(path: "/tmp/aq/camera0")),
        ("shm://camera0", .sharedMemory(name: "camera0")),
        ("shm://a.b_c-d@e+f=g,h:i", .sharedMemory(name: "a.b_c-d@e+f=g,h:i")),
    ])
    func parsesValidEndpoints(text: String, expected: Endpoint) throws {
        let endpoint = try Endpoint(text)
        #expect(endpoint == expected)
        #expect(try Endpoint(endpoint.description) == endpoint)
    }

    @Test(arguments: [
        ("localhost:5555", "no transport"),
        ("udp://host:5", "unknown transport 'udp'"),
        ("tcp://host", "no port"),
        ("tcp://host:", "port is empty"),
        ("tcp://host:0", "out of range"),
        ("tcp://host:65536", "out of range"),
        ("tcp://host:-1", "not a number"),
        ("tcp://host:+80", "not a number"),
        ("tcp://host:80x", "not a number"),
        ("tcp://:5555", "host is empty"),
        ("tcp://::1:5555", "must be written in brackets"),
        ("tcp://[::1:5555", "no closing ']'"),
        ("tcp://[::1]5555", "expected ':PORT'"),
        ("tcp://[]:5555", "empty"),
        ("tcp://[zz::1]:5555", "not an IPv6 address"),
        ("tcp://256.1.1.1:5555", "not an IPv4 address"),
        ("tcp://1.2.3:5555", "not an IPv4 address"),
        ("tcp://01.2.3.4:5555", "not an IPv4 address"),
        ("tcp://bad host:5555", "not a host name"),
        ("tcp://-bad:5555", "not a host name"),
        ("tcp://a..b:5555", "not a host name"),
        ("ipc://relative/path", "must be absolute"),
        ("ipc:///", "names a directory"),
        ("ipc:///tmp/" + String(repeating: "x", count: 120), "at most 107"),
        ("shm://", "queue name is empty"),
        ("shm://a/b", "only letters, digits"),
        ("shm://has space", "only letters, digits"),
        ("shm://.hidden", "cannot start with '.'"),
        ("shm://" + String(repeating: "q", count: 253), "at most 252"),
    ])
    func rejectsMalformedEndpoints(text: String, reason: String) {
        #expect {
            try Endpoint(text)
        } throws: { error in
            guard let error = error as? TransportError else { return false }
            return error.code == .invalidEndpoint && error.message.contains(reason) && error.message.contains(text.prefix(20))
        }
    }

    @Test func wildcardsAndZeroMQAddresses() throws {
        #expect(try Endpoint("tcp://*:5555").isWildcard)
        #expect(try Endpoint("tcp://127.0.0.1:*").isWildcard)
        #expect(try !Endpoint("tcp://127.0.0.1:5555").isWildcard)
        #expect(try Endpoint("tcp://[::1]:5555").zeroMQAddress() == "tcp://[::1]:5555")
        #expect(throws: TransportError.self) { try Endpoint("shm://camera0").zeroMQAddress() }
    }

    @Test func connectingToAWildcardIsRejected() throws {
        #expect {
            _ = try ZeroMQReceiver(.pull, connect: [try Endpoint("tcp://127.0.0.1:*")])
        } throws: { ($0 as? TransportError)?.code == .invalidEndpoint }
        #expect {
            _ = try ZeroMQSender(.push, stream: "s", connect: [try Endpoint("shm://queue")])
        } throws: { ($0 as? TransportError)?.code == .invalidEndpoint }
    }
}
