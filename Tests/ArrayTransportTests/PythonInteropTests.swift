import ArrayQueues
import ArrayQueuesTestSupport
@testable import ArrayTransport
import ComplexModule
import Foundation
import Testing

/// Python (pyzmq + numpy) on the other end. These tests fail, never skip, when python3 cannot
/// import pyzmq and numpy.
@Suite("Interoperation with Python")
struct PythonInteropTests {
    static let shapes: [[Int]] = [[], [0], [3, 5], [7, 11, 2], [64, 130]]

    static let interopMeta: [String: JSONValue] = [
        "nested": ["list": [1, 2.5, "x"], "big": .integer(1 << 62)], "text": "ünïcødé ✓",
    ]

    @Test func pythonSubscriberReadsSwiftArraysBitExact() throws {
        try requirePythonPackages()
        let count = 20
        let sender = try ZeroMQSender(.publish, stream: "interop", bind: [try loopbackWildcard()], options: .init(heartbeatInterval: .milliseconds(20)))
        defer { sender.close() }
        let script = try pythonScript("sub_check.py", [sender.boundEndpoints[0].description, String(count + 1)])
        guard script.waitForLine(prefix: "READY", within: 30) != nil else {
            let result = script.finish(timeout: 5)
            Issue.record("the Python subscriber never got ready: status \(result.status)\n\(result.output)\n\(result.errors)")
            return
        }
        for i in 0..<count {
            let arrays = try interopDTypes.enumerated().map { j, dtype in
                NamedArray("a\(j)", try patternArray(dtype, Self.shapes[(i + j) % Self.shapes.count], message: i, array: j))
            }
            try sender.send(arrays, timestamp: Timestamp(nanosecondsSinceEpoch: 1_764_028_800_123_456_789 + Int64(i)), index: Int64(i),
                            meta: Self.interopMeta.merging(["i": .integer(Int64(i))]) { $1 })
        }
        let values: [NamedArray] = [
            NamedArray("f8", try NDArray<Double>(shape: [4], elements: [0.5, -2.25, 1e300, -0.0]).erased),
            NamedArray("i4", try NDArray<Int32>(shape: [3], elements: [-1, 2, .max]).erased),
            NamedArray("c16", try NDArray<Complex<Double>>(shape: [2], elements: [Complex(1, 2), Complex(-0.5, 3)]).erased),
            NamedArray("u2", try NDArray<UInt16>(shape: [2], elements: [.max, 0]).erased),
            NamedArray("b1", try NDArray<Bool>(shape: [2], elements: [true, false]).erased),
            NamedArray("f2", try NDArray<Float16>(shape: [2], elements: [1.5, -2]).erased),
            NamedArray("m", try NDArray<Int64>(shape: [2, 3], elements: [1, 2, 3, 4, 5, 6]).erased),
        ]
        try sender.send(values, timestamp: Timestamp(nanosecondsSinceEpoch: 1_764_028_800_123_456_789 + Int64(count)), index: Int64(count),
                        meta: ["kind": "values", "i": .integer(Int64(count))])
        sender.close()
        let result = script.finish(timeout: 60)
        #expect(result.status == 0, "sub_check.py failed:\n\(result.output)\n\(result.errors)")
        #expect(result.output.contains("OK \(count + 1)"), "\(result.output)")
    }

    @Test func swiftSubscriberReadsPythonArraysBitExact() throws {
        try requirePythonPackages()
        let count = 20
        let script = try pythonScript("pub_send.py", [String(count)])
        guard let line = script.waitForLine(prefix: "ENDPOINT", within: 30) else {
            let result = script.finish(timeout: 5)
            Issue.record("the Python publisher did not start: status \(result.status)\n\(result.output)\n\(result.errors)")
            return
        }
        let endpoint = try Endpoint(String(line.dropFirst("ENDPOINT ".count)))
        let receiver = try ZeroMQReceiver(.subscribe(prefixes: ["pyinterop"]), connect: [endpoint])
        defer { receiver.close() }
        try awaitHeartbeat(receiver)
        script.writeLine("GO")

        var messages: [ArrayMessage] = []
        var endMark: StreamMark?
        let deadline = Date().addingTimeInterval(60)
        while endMark == nil && Date() < deadline {
            switch try receiver.receiveEvent(timeout: .milliseconds(200)) {
            case let .message(message)?: messages.append(message)
            case let .end(mark)?: endMark = mark
            default: break
            }
        }
        script.writeLine("DONE")
        let result = script.finish(timeout: 30)
        #expect(result.status == 0, "pub_send.py failed:\n\(result.output)\n\(result.errors)")
        try #require(messages.count == count + 1, "received \(messages.count) of \(count + 1) messages; python said:\n\(result.output)\n\(result.errors)")

        for (i, message) in messages.prefix(count).enumerated() {
            #expect(message.stream == "pyinterop")
            #expect(message.sequence == UInt64(i) && message.index == Int64(i))
            #expect(message.epoch == (1 << 52) - 1)
            #expect(message.timestamp.nanosecondsSinceEpoch == 1_764_028_800_123_456_789 + Int64(i))
            #expect(message.meta == Self.interopMeta.merging(["i": .integer(Int64(i))]) { $1 })
            #expect(message.arrays.count == interopDTypes.count)
            for (j, named) in message.arrays.enumerated() {
                let expected = try patternArray(interopDTypes[j], Self.shapes[(i + j) % Self.shapes.count], message: i, array: j)
                #expect(named.name == "a\(j)")
                #expect(named.array == expected, "message \(i) array \(j): \(named.array) differs from \(expected)")
            }
        }
        let values = messages[count]
        #expect(values.meta["kind"] == "values")
        #expect(try values["f8"]!.typed(as: Double.self).elements.map(\.bitPattern) == [0.5, -2.25, 1e300, -0.0].map(\.bitPattern))
        #expect(try values["i4"]!.typed(as: Int32.self).elements == [-1, 2, .max])
        #expect(try values["c16"]!.typed(as: Complex<Double>.self).elements == [Complex(1, 2), Complex(-0.5, 3)])
        #expect(try values["u2"]!.typed(as: UInt16.self).elements == [.max, 0])
        #expect(try values["b1"]!.typed(as: Bool.self).elements == [true, false])
        #expect(try values["f2"]!.typed(as: Float16.self).elements == [1.5, -2])
        let matrix = try values["m"]!.typed(as: Int64.self)
        #expect(matrix.shape == [2, 3] && matrix[1, 2] == 6)

        #expect(endMark?.lastSequence == UInt64(count))
        let statistics = receiver.statistics
        #expect(statistics.lost == 0 && statistics.malformed == 0 && statistics.ends == 1)
    }

    @Test func pythonFuzzerCannotStopTheReceiver() throws {
        try requirePythonPackages()
        let count = 500
        let receiver = try ZeroMQReceiver(.pull, bind: [try loopbackWildcard()], options: .init(maximumArrays: 8), logger: quietLogger)
        defer { receiver.close() }
        let script = try pythonScript("fuzz.py", [receiver.boundEndpoints[0].description, String(count), "20251125", "8"])
        var final: ArrayMessage?
        let deadline = Date().addingTimeInterval(90)
        var quietRoundsAfterExit = 0
        while final == nil && Date() < deadline && quietRoundsAfterExit < 4 {
            if let message = try receiver.receive(timeout: .milliseconds(500)) {
                if message.meta["final"] == true { final = message }
            } else if !script.isRunning {
                quietRoundsAfterExit += 1   // the script is gone and nothing more arrives
            }
        }
        let result = script.finish(timeout: 30)
        #expect(result.status == 0, "fuzz.py failed:\n\(result.output)\n\(result.errors)")
        #expect(final != nil, "the valid message after the garbage never arrived")
        let statistics = receiver.statistics
        #expect(statistics.malformed == UInt64(count), "last reason: \(statistics.lastMalformedReason ?? "none")")
        #expect(statistics.received == 1)

        // Still working afterwards.
        let sender = try ZeroMQSender(.push, stream: "after", connect: receiver.boundEndpoints, options: .init(heartbeatInterval: nil))
        defer { sender.close() }
        try sender.send(try patternArray(.float32, [8]))
        #expect(try receiver.receive(timeout: .seconds(10))?.stream == "after")
    }
}
