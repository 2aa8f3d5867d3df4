public import ArrayTransport

/// ``ArrayTransport/Throttle``, which moved to ArrayTransport so that receivers throttle their
/// own logs: kept under this module's name for programs that import only ArrayRelay.
public typealias Throttle = ArrayTransport.Throttle
