extension Endpoint {
    /// Whether a socket bound here accepts connections from other hosts: a `tcp://` endpoint
    /// on any address other than a loopback one (`127.0.0.0/8`, `::1`, `localhost`, `lo`).
    var isReachableFromOtherHosts: Bool {
        guard case let .tcp(host, _) = self else { return false }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return !(bare.hasPrefix("127.") || bare == "::1" || bare == "localhost" || bare == "lo")
    }
}
