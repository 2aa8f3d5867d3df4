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

/// A plain TCP connection to 127.0.0.1:`port` that sends nothing (a peer that never speaks
/// ZMTP); the caller closes it.
public func rawLoopbackConnection(port: Int) throws -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return try rawConnection(family: AF_INET, to: &address)
}

/// A plain connection to the Unix socket at `path` that sends nothing; the caller closes it.
public func rawUnixConnection(path: String) throws -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    return try rawConnection(family: AF_UNIX, to: &address)
}

private func rawConnection<Address>(family: Int32, to address: inout Address) throws -> Int32 {
    let descriptor = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<Address>.size)) == 0 }
    }
    guard connected else {
        let code = errno
        close(descriptor)
        throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
    return descriptor
}

/// Whether the other side of connection `descriptor` ended it (end of file or a reset) within
/// `seconds`; whatever it sent before (a ZMTP greeting) is read and dropped.
public func connectionEnds(_ descriptor: Int32, within seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return true }
        if count > 0 { continue }
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { return false }
        var wait = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&wait, 1, Int32(min(left * 1000, 100)) + 1)
    }
}
