import Foundation
import Synchronization

/// What a finished process left.
public struct ProcessRun: Sendable {
    /// Its exit status (or the signal that ended it).
    public let status: Int32
    /// Everything it wrote to standard output.
    public let output: String
    /// Everything it wrote to standard error.
    public let errors: String
}

/// Runs the program at `path` with `arguments`, killing it after `timeout` seconds. Standard
/// output and standard error are read at the same time, so a chatty program cannot block on a
/// full pipe.
public func runProcess(_ path: String, _ arguments: [String], timeout: Double) throws -> ProcessRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let killer = DispatchWorkItem { process.terminate() }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let errorText = Mutex("")
    let errorsDone = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        errorText.withLock { $0 = String(decoding: data, as: UTF8.self) }
        errorsDone.signal()
    }
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    errorsDone.wait()
    return ProcessRun(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self), errors: errorText.withLock { $0 })
}
