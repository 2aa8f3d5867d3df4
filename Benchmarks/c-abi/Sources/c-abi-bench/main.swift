// The C ABI's put + get and loan + borrow against the Swift API's put + get and its closure
// forms, alternating in rounds on one queue in one process; prints the median of the per-round
// ratios (C time / Swift time: 1.0 is "no cost for crossing the C boundary").
//
//   cd Benchmarks/c-abi && swift build -c release && .build/release/c-abi-bench [records per round]
import ArrayQueues
import ArrayQueuesC
import CArrayQueuesC
import Glibc

func seconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// `value` with two decimals (no Foundation here).
func twoDecimals(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

func timed(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = seconds()
    for _ in 0..<count { try body() }
    return (seconds() - start) / Double(count)
}

let name = "c-abi-bench-\(getpid())"
let queue = try ArrayQueue.create(name: name, capacity: 16 << 20)
var handle: OpaquePointer?
precondition(aq_queue_open(name, nil, &handle) == 0)
let perRound = Int(CommandLine.arguments.dropFirst().first ?? "20000")!
let rounds = 21
let uint8 = Int32(AQ_DTYPE_UINT8.rawValue)
print("size      Swift put+get   C put+get / Swift   C loan+borrow / Swift put{fill}+get{borrow}   (median of \(rounds) rounds)")
for size in [64, 1024, 65536] {
    let count = size > 4096 ? perRound / 10 : perRound
    let array = try AnyNDArray(dtype: .uint8, shape: [size]) { $0.initializeMemory(as: UInt8.self, repeating: 1) }
    var target = [UInt8](repeating: 0, count: size)
    var info = aq_record_info()
    var shape: [Int64] = [Int64(size)]
    var swiftCopies: [Double] = [], copyRatios: [Double] = [], inPlaceRatios: [Double] = []
    for _ in 0..<rounds {
        let swiftCopy = try timed(count) {
            try queue.put(array)
            let record = try queue.tryGet()
            precondition(record?.array.byteCount == size)
        }
        let swiftInPlace = try timed(count) {
            try queue.put(dtype: .uint8, shape: [size]) { bytes in array.withUnsafeBytes { bytes.copyMemory(from: $0) } }
            try queue.tryGet { record in target.withUnsafeMutableBytes { $0.copyMemory(from: record.bytes) } }
        }
        let cCopy = timed(count) {
            array.withUnsafeBytes { precondition(aq_queue_put(handle, uint8, 1, &shape, $0.baseAddress, size, 0, 0, 0, 0) == 0) }
            precondition(target.withUnsafeMutableBytes { aq_queue_get(handle, $0.baseAddress, size, &info, 0) } == 0)
        }
        let cInPlace = timed(count) {
            var data: UnsafeMutableRawPointer?, loan: OpaquePointer?
            precondition(aq_queue_loan(handle, uint8, 1, &shape, 0, 0, 0, 0, &data, nil, &loan) == 0)
            array.withUnsafeBytes { data!.copyMemory(from: $0.baseAddress!, byteCount: size) }
            precondition(aq_loan_commit(loan) == 0)
            var payload: UnsafeRawPointer?, borrow: OpaquePointer?
            precondition(aq_queue_borrow(handle, 0, &info, &payload, &borrow) == 0)
            target.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: payload!, byteCount: size) }
            aq_borrow_release(borrow)
        }
        swiftCopies.append(swiftCopy)
        copyRatios.append(cCopy / swiftCopy)
        inPlaceRatios.append(cInPlace / swiftInPlace)
    }
    let padded = { (text: String, width: Int) in text + String(repeating: " ", count: max(0, width - text.count)) }
    print(padded("\(size) B", 10) + padded("\(Int(median(swiftCopies) * 1e9)) ns", 16)
        + padded(twoDecimals(median(copyRatios)), 20) + twoDecimals(median(inPlaceRatios)))
}
aq_queue_close(handle)
try ArrayQueue.remove(name: name)
