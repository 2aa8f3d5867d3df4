// Roles for the hostile-local tests (HostileLocalTests): a creator that pauses or dies before its
// segment is finished, and a writer that holds a record in WRITING for a while.
//
//   create-slowly QUEUE CAPACITY SECONDS   create, pausing SECONDS before writing the header; print "created"
//   create-and-die QUEUE CAPACITY          create, and SIGKILL itself before writing the header
//   hold-write QUEUE SECONDS               put one uint8 record, SECONDS inside its fill; print "written"
@_spi(Testing) import ArrayQueues
@preconcurrency import Glibc

enum HostileRoles {
    /// Runs the role named in `arguments`; false if it is not one of these.
    static func run(_ arguments: [String]) -> Bool {
        do {
            switch arguments[1] {
            case "create-slowly":
                let seconds = Helper.integer(arguments, 4)
                _ = try ArrayQueue.createPausingForTesting(name: arguments[2], capacity: Helper.integer(arguments, 3)) {
                    sleep(UInt32(seconds))
                }
                print("created")
            case "create-and-die":
                _ = try ArrayQueue.createPausingForTesting(name: arguments[2], capacity: Helper.integer(arguments, 3)) {
                    Helper.killSelf()
                }
            case "hold-write":
                let seconds = Helper.integer(arguments, 3)
                let queue = try ArrayQueue.open(name: arguments[2])
                try queue.put(dtype: .uint8, shape: [100], timeout: .seconds(10)) { bytes in
                    sleep(UInt32(seconds))
                    for index in bytes.indices { bytes[index] = 7 }
                }
                print("written")
            default:
                return false
            }
        } catch {
            Helper.fail("\(error)")
        }
        return true
    }
}
