import Foundation

/// Runs `python3 arguments…` (a script path and its arguments, or `-c CODE …`) and returns what
/// it left, killing it after `timeout` seconds. Output is unbuffered (`-u`).
public func runPython(_ arguments: [String], timeout: Double = 120, environment: [String: String] = [:]) throws -> ProcessRun {
    try runProcess("/usr/bin/env", ["python3", "-u"] + arguments, timeout: timeout, environment: environment)
}

/// Starts `python3 arguments…` as a child process whose output tests can wait for.
public func startPython(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
    try ChildProcess("/usr/bin/env", ["python3", "-u"] + arguments, environment: environment)
}

/// Python, or one of the modules a test needs, is missing: tests that need it fail (never skip).
public struct PythonMissing: Error, CustomStringConvertible {
    /// What is missing and how to install it.
    public let description: String
}

/// Throws ``PythonMissing`` unless python3 runs and imports every module in `modules`.
public func requirePython(importing modules: [String]) throws {
    let run = try runPython(["-c", "import " + modules.joined(separator: ", ")], timeout: 60)
    guard run.status == 0 else {
        throw PythonMissing(description: "python3 cannot import \(modules.joined(separator: ", ")), which these tests need: run scripts/bootstrap (or python3 -m pip install \(modules.map { $0 == "zmq" ? "pyzmq" : $0 }.joined(separator: " "))). \(run.errors)")
    }
}
