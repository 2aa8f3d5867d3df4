import Foundation

/// Polls `condition` every `interval` seconds until it holds or `seconds` pass; returns whether
/// it held. The one bounded poll of the tests.
public func eventually(within seconds: Double = 10, every interval: Double = 0.01, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    }
    return try condition()
}
