import Foundation
@preconcurrency import Glibc

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it for a socket
/// that is closed again before this returns).
public func freeLoopbackPort() throws -> Int {
    let (descriptor, address) = try boundLoopbackSocket(listening: false)
    close(descriptor)
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP socket bound to a port of 127.0.0.1 the kernel picked, listening (a backlog of 1) if
/// `listening`, and its address; the caller closes it.
func boundLoopbackSocket(listening: Bool) throws -> (descriptor: Int32, address: sockaddr_in) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
    }
    guard bound, !listening || listen(descriptor, 1) == 0 else {
        close(descriptor)
        throw POSIXError(.EADDRNOTAVAIL)
    }
    return (descriptor, address)
}

/// A connected client socket and the server side of its connection, on 127.0.0.1.
public func connectedLoopbackPair() throws -> (client: Int32, server: Int32) {
    let (listener, bound) = try boundLoopbackSocket(listening: true)
    defer { close(listener) }
    var address = bound
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard client >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
    }
    guard connected else {
        close(client)
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
    let server = accept(listener, nil, nil)
    guard server >= 0 else {
        close(client)
        throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
    return (client, server)
}
