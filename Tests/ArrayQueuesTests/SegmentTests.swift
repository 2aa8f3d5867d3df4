@testable import ArrayQueues
import ArrayQueuesTestSupport
import CArrayQueuesShims
import Foundation
import Testing

@Suite("Creating, opening and validating segments")
struct SegmentTests {
    @Test("create, open by name, attachments, remove")
    func lifecycle() throws {
        let name = uniqueQueueName("lifecycle")
        let queue = try ArrayQueue.create(name: name, capacity: 100_000)
        #expect(queue.capacity == 102_400)
        #expect(ArrayQueue.exists(name: name))
        #expect(ArrayQueue.allNames().contains(name))
        let info = queue.info
        #expect(info.creatorPID == getpid() && info.layoutVersion == Int(CAQ_LAYOUT_VERSION) && info.segmentSize == 4096 + 102_400)
        #expect(queue.attachments().map(\.pid) == [getpid()])
        let other = try ArrayQueue.open(name: name)
        #expect(other.capacity == queue.capacity)
        #expect(queue.attachments().count == 1)
        #expect(!queue.isRemoved && !other.isRemoved)
        let mode = try FileManager.default.attributesOfItem(atPath: "/dev/shm/aq.\(name)")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.create(name: name, capacity: 4096) })?.code == .alreadyExists)
        try ArrayQueue.remove(name: name)
        #expect(!ArrayQueue.exists(name: name))
        #expect(queue.isRemoved && other.isRemoved)
        // Handles opened before the removal keep working.
        try other.put(try NDArray<UInt8>(shape: [1], elements: [9]))
        #expect(try queue.get(as: UInt8.self).elements == [9])
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) })?.code == .notFound)
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.remove(name: name) })?.code == .notFound)
        // A new queue under the name is another queue: the old handles still count as removed.
        let successor = try ArrayQueue.create(name: name, capacity: 4096)
        defer { try? ArrayQueue.remove(name: name) }
        #expect(queue.isRemoved && !successor.isRemoved)
    }

    @Test("the mode asked for is the mode given, whatever the umask")
    func exactMode() throws {
        let name = uniqueQueueName("mode")
        let previous = umask(0o077)
        defer { umask(previous) }
        _ = try ArrayQueue.create(name: name, capacity: 4096, creating: CreateOptions(mode: 0o660))
        defer { try? ArrayQueue.remove(name: name) }
        let mode = try FileManager.default.attributesOfItem(atPath: "/dev/shm/aq.\(name)")[.posixPermissions] as? Int
        #expect(mode == 0o660)
    }

    @Test("invalid names are rejected", arguments: ["", ".", "..", "../etc", "a/b", "has space", String(repeating: "x", count: 300), "tab\t", ".hidden"])
    func invalidNames(name: String) {
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.create(name: name, capacity: 4096) })?.code == .invalidName)
    }

    @Test("capacities out of range are rejected", arguments: [0, -1, 100, 4095, 1 << 41, Int.max])
    func invalidCapacities(capacity: Int) {
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.create(name: uniqueQueueName("cap"), capacity: capacity) })?.code == .invalidArgument)
    }

    @Test("a shared-memory object that is not ours is rejected as foreign")
    func foreignSegment() throws {
        let name = uniqueQueueName("foreign")
        let path = "/dev/shm/aq.\(name)"
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(error?.code == .foreignSegment)
    }

    @Test("a segment of another layout version is rejected with the version named")
    func wrongVersion() throws {
        let name = uniqueQueueName("version")
        _ = try ArrayQueue.create(name: name, capacity: 4096)
        defer { try? ArrayQueue.remove(name: name) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        try handle.seek(toOffset: UInt64(SegmentLayout.header(\.layout_version)))
        handle.write(Data([99, 0, 0, 0]))
        try handle.close()
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(error?.code == .incompatibleVersion)
        #expect(error?.message.contains("99") == true)
    }

    @Test("a layout-version-1 segment (before broadcast queues) is refused, naming version 1 and what to do")
    func versionOne() throws {
        let name = uniqueQueueName("version1")
        _ = try ArrayQueue.create(name: name, capacity: 4096)
        defer { try? ArrayQueue.remove(name: name) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        try handle.seek(toOffset: 8)
        handle.write(Data([1, 0, 0, 0]))
        try handle.close()
        let error = #expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) }
        #expect(error?.code == .incompatibleVersion)
        #expect(error?.message.contains("layout version 1;") == true && error?.message.contains("create it again") == true, "\(String(describing: error))")
    }

    @Test("a truncated segment is reported as corrupt, not a crash")
    func truncatedSegment() throws {
        let name = uniqueQueueName("truncated")
        _ = try ArrayQueue.create(name: name, capacity: 64 << 10)
        defer { try? ArrayQueue.remove(name: name) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: "/dev/shm/aq.\(name)"))
        try handle.truncate(atOffset: 8192)
        try handle.close()
        #expect((#expect(throws: ArrayQueueError.self) { try ArrayQueue.open(name: name) })?.code == .corruptSegment)
    }

    @Test("sizes parse and format as people write them")
    func byteCounts() {
        #expect(ByteCount.parse("64MiB") == 64 << 20)
        #expect(ByteCount.parse("64M") == 64 << 20)
        #expect(ByteCount.parse("1.5GB") == 1_500_000_000)
        #expect(ByteCount.parse("4096") == 4096)
        #expect(ByteCount.parse("12 kib") == 12 << 10)
        #expect(ByteCount.parse("lots") == nil)
        #expect(ByteCount.parse("-5M") == nil)
        #expect(ByteCount.format(8 << 20) == "8 MiB")
        #expect(ByteCount.format(1536) == "1.5 KiB")
    }

    @Test("shapes with too many dimensions, negative extents or overflowing counts are rejected")
    func invalidShapes() {
        for shape in [Array(repeating: 1, count: 33), [-1, 2], [Int.max, 2], [1 << 32, 1 << 32]] {
            #expect((#expect(throws: ArrayQueueError.self) { try Shape.byteCount(shape, dtype: .float64) })?.code == .invalidShape)
        }
        #expect((#expect(throws: ArrayQueueError.self) { try NDArray<Float>(shape: [2, 2], elements: [1, 2, 3]) })?.code == .invalidShape)
    }

    @Test("dtypes know their numpy typestr and parse it back", arguments: DType.allCases)
    func typestrRoundTrip(dtype: DType) throws {
        #expect(try DType(typestr: dtype.typestr) == dtype)
        #expect(dtype.typestr.hasSuffix(String(dtype.itemSize)))
    }

    @Test("unsupported typestrs are rejected")
    func badTypestr() {
        for typestr in [">f4", "<f3", "|O", "<U4", "", "<"] {
            #expect((#expect(throws: ArrayQueueError.self) { try DType(typestr: typestr) })?.code == .unsupportedDType)
        }
    }
}

@Suite("Storage of large arrays")
struct LargeStorageTests {
    @Test("freed large arrays are reused for the next array of the same size, with the new contents")
    func reuse() throws {
        // 22 MiB: a size no other test allocates, so parallel tests cannot take the buffer.
        let count = 22 << 20
        var address: UnsafeRawPointer?
        do {
            let first = try NDArray<UInt8>(shape: [count], repeating: 1)
            address = first.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        let second = try NDArray<UInt8>(shape: [count], repeating: 2)
        #expect(second.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } == address)
        #expect(second.withUnsafeBufferPointer { $0.allSatisfy { $0 == 2 } })
    }

    @Test("the pool of freed buffers is bounded")
    func bounded() {
        let size = 30 << 20
        let buffers = (0..<LargeBufferPool.maximumBuffers + 2).map { _ in UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64) }
        for buffer in buffers { LargeBufferPool.give(buffer, size: size) }
        var taken: [UnsafeMutableRawPointer] = []
        while let buffer = LargeBufferPool.take(size: size) { taken.append(buffer) }
        #expect(taken.count <= LargeBufferPool.maximumBytes / size)
        for buffer in taken { buffer.deallocate() }
    }
}
