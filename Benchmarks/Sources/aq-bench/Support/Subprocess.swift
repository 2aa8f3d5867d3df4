import CBenchShims
@preconcurrency import Glibc

extension Sys {
    /// Runs `path` with `arguments`, its standard output read into a string and its standard
    /// error passed through, and waits for it, at most `timeoutNanoseconds` (then it is killed).
    /// Returns the exit status (as ``exitStatus(of:)``) and the output.
    /// The corresponding C calls are `pipe`, `posix_spawn` (with a `dup2` file action), `poll` and `read`.
    static func run(_ path: String, arguments: [String], timeoutNanoseconds: Int64) throws(BenchError) -> (status: Int32, output: String) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw .system("pipe", "cannot make a pipe for \(path)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], STDOUT_FILENO)
        posix_spawn_file_actions_addclose(&actions, ends[0])
        posix_spawn_file_actions_addclose(&actions, ends[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, cbench_environ())
        close(ends[1])
        defer { close(ends[0]) }
        guard rc == 0 else { throw .system("posix_spawn", "cannot start \(path)", errno: rc) }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        while true {
            let remaining = deadline - monotonicNanoseconds()
            guard remaining > 0 else {
                killAndReap(pid)
                throw BenchError("\(path) \(arguments.first ?? "") did not finish within \(timeoutNanoseconds / 1_000_000_000) s; killed it")
            }
            var descriptor = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(min(remaining / 1_000_000 + 1, 1000))) <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            output += buffer[0..<count]
        }
        while true {
            if let status = exitStatus(of: pid) { return (status, String(decoding: output, as: UTF8.self)) }
            guard monotonicNanoseconds() < deadline else {
                killAndReap(pid)
                throw BenchError("\(path) closed its output but did not exit; killed it")
            }
            sleep(nanoseconds: 2_000_000)
        }
    }
}
