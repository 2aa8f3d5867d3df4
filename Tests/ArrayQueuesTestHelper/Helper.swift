// A separate process for the cross-process tests. Each command does one role and reports on
// stdout, one line per record or event, so that the test can check what crossed over.
//
//   produce QUEUE PRODUCER COUNT ELEMENTS [varying]   put COUNT checked records (index = producer<<32|i)
//   consume QUEUE COUNT                              get COUNT records, verify each, print "index seq ts dtype shape"
//   clear QUEUE                                      clear the queue, print how many records were dropped
//   wait-get QUEUE SECONDS                           block in get, print "got SEQ" or "timeout"
import ArrayQueues
import ArrayQueuesTestSupport
@preconcurrency import Glibc

@main
enum Helper {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else { fail("usage: ArrayQueuesTestHelper COMMAND QUEUE ...") }
        do {
            try run(command: arguments[1], queue: ArrayQueue.open(name: arguments[2]), arguments: Array(arguments.dropFirst(3)))
        } catch {
            fail("\(error)")
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
        case "produce":
            try produce(queue, producer: integer(arguments, 0), count: integer(arguments, 1), elements: integer(arguments, 2),
                        varying: arguments.count > 3 && arguments[3] == "varying")
        case "consume":
            try consume(queue, count: integer(arguments, 0))
        case "clear":
            print("cleared \(try queue.clear())")
        case "wait-get":
            try waitGet(queue, seconds: integer(arguments, 0))
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
