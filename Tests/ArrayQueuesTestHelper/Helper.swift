// A separate process for the cross-process tests. Each command does one role and reports on
// stdout, one line per record or event, so that the test can check what crossed over.
//
//   produce QUEUE PRODUCER COUNT ELEMENTS [varying]   put COUNT checked records (index = producer<<32|i)
//   consume QUEUE COUNT                              get COUNT records, verify each, print "index seq ts dtype shape"
//   clear QUEUE                                      clear the queue, print how many records were dropped
//   wait-get QUEUE SECONDS                           block in get, print "got SEQ" or "timeout"
//   die-in-fill QUEUE / die-in-read QUEUE / die-holding-lock QUEUE
//                                                    SIGKILL itself mid-write, mid-read, or holding the lock
//   torture-produce QUEUE PRODUCER SEED              put checked records of random sizes until killed
//   torture-consume QUEUE LOGFILE SEED               take and verify records until killed; log each index
//   create QUEUE CAPACITY                            create a queue; print "created" or the error code
//   fuzz QUEUE SEED ITERATIONS                       corrupt the segment at random, exercise every operation
//   create-slowly, create-and-die, hold-write        see HostileRoles.swift
//   crash-walk, walk-check, hold-lock, put-retrying  the crash-point walk and liveness roles (CrashWalk.swift)
//   copy-put QUEUE BYTES                             one copying put(array) of BYTES uint8s (byte i holds i & 255)
//   batch-put QUEUE COUNT / batch-drain QUEUE        one put(contentsOf:) of COUNT records (record i filled with i) /
//                                                    one drain(upTo: 256) logging "got I"; run with AQ_CRASH_POINT
//   exercise QUEUE                                   every operation once on a (crafted) segment; print the outcome
//   torture ROLE QUEUE ...                           the kill torture of every policy (Torture.swift)
//   bcast-…                                          broadcast subscribers and the broadcast walk (BroadcastRoles.swift)
@_spi(Testing) import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

@main
enum Helper {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else { fail("usage: ArrayQueuesTestHelper COMMAND QUEUE ...") }
        if HostileRoles.run(arguments) || BroadcastRoles.run(arguments) { return }
        if arguments[1] == "create" {
            create(name: arguments[2], capacity: integer(arguments, 3))
            return
        }
        if arguments[1] == "exercise" {
            print(exercise(name: arguments[2]))
            return
        }
        if arguments[1] == "walk-check" {
            walkCheck(name: arguments[2])
            return
        }
        if arguments[1] == "fuzz" {
            do { try fuzz(name: arguments[2], seed: UInt64(integer(arguments, 3)), iterations: integer(arguments, 4)) } catch { fail("\(error)") }
            return
        }
        do {
            try run(command: arguments[1], queue: ArrayQueue.open(name: arguments[2]), arguments: Array(arguments.dropFirst(3)))
        } catch {
            fail("\(error)")
        }
    }

    static func killSelf() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not kill")
    }

    static func create(name: String, capacity: Int) {
        do throws(ArrayQueueError) {
            _ = try ArrayQueue.create(name: name, capacity: capacity)
            print("created")
        } catch {
            print(error.code.rawValue)
            fputs("\(error)\n", stderr)
        }
    }

    static func fail(_ message: String) -> Never {
        fputs("helper: \(message)\n", stderr)
        exit(2)
    }

    static func integer(_ arguments: [String], _ position: Int) -> Int {
        guard position < arguments.count, let value = Int(arguments[position]) else { fail("argument \(position) must be an integer") }
        return value
    }

    static func run(command: String, queue: ArrayQueue, arguments: [String]) throws {
        switch command {
        case "die-in-fill":
            try queue.put(dtype: .uint8, shape: [1000]) { _ in killSelf() }
        case "die-in-read":
            try queue.get { _ in killSelf() }
        case "die-holding-lock":
            try queue.withLockHeldForTesting { killSelf() }
        case "torture-produce":
            try tortureProduce(queue, producer: integer(arguments, 0), seed: UInt64(integer(arguments, 1)))
        case "torture-consume":
            try tortureConsume(queue, log: arguments[0], seed: UInt64(integer(arguments, 1)))
        case "produce":
            try produce(queue, producer: integer(arguments, 0), count: integer(arguments, 1), elements: integer(arguments, 2),
                        varying: arguments.count > 3 && arguments[3] == "varying")
        case "consume":
            try consume(queue, count: integer(arguments, 0))
        case "clear":
            print("cleared \(try queue.clear())")
        case "wait-get":
            try waitGet(queue, seconds: integer(arguments, 0))
        case "crash-walk":
            try crashWalk(queue)
        case "copy-put":
            let count = integer(arguments, 0)
            let array = try AnyNDArray(dtype: .uint8, shape: [count]) { bytes in
                for offset in bytes.indices { bytes[offset] = UInt8(truncatingIfNeeded: offset) }
            }
            try queue.put(array, timeout: .seconds(5))
        case "batch-put":
            // COUNT uint8 records of 100 bytes, record i filled with i, in one put(contentsOf:).
            let count = integer(arguments, 0)
            let arrays = try (0..<count).map { number in
                try AnyNDArray(dtype: .uint8, shape: [100]) { $0.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: number)) }
            }
            try queue.put(contentsOf: arrays, timeout: .seconds(5))
        case "batch-drain":
            // One drain of up to 256 records; logs "got N" (the record's first byte) for each.
            try queue.drain(upTo: 256, blocking: false) { record in logLine("got \(record.bytes.first ?? 0)") }
        case "hold-lock":
            try holdLock(queue)
        case "put-retrying":
            try putRetrying(queue, milliseconds: integer(arguments, 0), count: integer(arguments, 1))
        case "torture":
            try torture(queue, arguments: arguments)
        default:
            fail("unknown command \(command)")
        }
    }

    static func produce(_ queue: ArrayQueue, producer: Int, count: Int, elements: Int, varying: Bool) throws {
        for counter in 0..<count {
            let index = Pattern.index(producer: producer, counter: counter)
            let shape = varying ? Pattern.varyingShape(counter: counter, elements: elements) : [elements]
            let dtype: DType = varying ? [.uint32, .float64, .int16][counter % 3] : .uint32
            try queue.put(dtype: dtype, shape: shape, index: index, timeout: .seconds(60)) { bytes in
                Pattern.fill(bytes, seed: UInt64(bitPattern: index))
            }
        }
        print("produced \(count)")
    }

    static func consume(_ queue: ArrayQueue, count: Int) throws {
        var lines: [String] = []
        for _ in 0..<count {
            let line = try queue.get(timeout: .seconds(60)) { record -> String in
                guard let index = record.index, Pattern.verify(record.bytes, seed: UInt64(bitPattern: index)) else {
                    fail("record \(record.sequence) has corrupted contents")
                }
                let shape = record.shape.map(String.init).joined(separator: "x")
                return "\(index) \(record.sequence) \(record.timestamp.nanosecondsSinceEpoch) \(record.dtype.typestr) \(shape.isEmpty ? "scalar" : shape)"
            }
            lines.append(line)
        }
        print(lines.joined(separator: "\n"))
    }

    static func waitGet(_ queue: ArrayQueue, seconds: Int) throws {
        do throws(ArrayQueueError) {
            let record = try queue.get(timeout: .seconds(seconds))
            print("got \(record.sequence)")
        } catch {
            guard error.code == .timeout else { throw error }
            print("timeout")
        }
    }
}
