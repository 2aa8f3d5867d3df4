import ArrayQueuesTestSupport
import Foundation
import Testing

/// C programs that exercise the transport across processes and against hostile peers: a
/// receiver's `peers_dropped` after it cuts a connection, `maximum_connections` against raw
/// connections, and `shm://` senders and receivers inherited through `fork()` without exec.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CProcessTests {
    /// Compiles `Tests/ArrayQueuesCTests/c/NAME.c` (with `-pthread`), runs it with `arguments`
    /// and checks that every check in it passed; returns its output.
    @discardableResult
    static func runProgram(_ name: String, _ arguments: [String] = []) throws -> String {
        try CToolchain.runCheckedProgram("Tests/ArrayQueuesCTests/c/\(name).c", arguments, extraFlags: "-pthread", timeout: 120)
    }

    @Test("a raw tcp peer that never ends its message: the receiver cuts it, counts it in peers_dropped, and still receives")
    func peersDropped() throws {
        let output = try Self.runProgram("hostile_peer_test")
        print("CProcessTests.peersDropped: \(output.split(separator: "\n").first ?? "")")
    }

    @Test("maximum_connections from C: a receiver and a sender with a limit of 2 cut 3 of 5 raw tcp connections (peers_dropped); no limit keeps 258; a version-2 receiver struct keeps the default 256")
    func connectionLimit() throws {
        let output = try Self.runProgram("connection_limit_test")
        print("CProcessTests.connectionLimit: \(output.split(separator: "\n").dropLast().joined(separator: "; "))")
    }

    @Test("shm:// sender and receiver inherited by fork(): a child that ignores, closes or sends through them leaves the parent's stream intact (push/pull; pub/sub, where the receiver's subscription stays the parent's)", arguments: ["push-pull", "pub-sub"])
    func forkedChildren(pattern: String) throws {
        let queue = "c-fork-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink("/dev/shm/aq.\(queue)") }  // should the program fail before removing it
        try Self.runProgram("fork_test", [queue, pattern])
    }
}
