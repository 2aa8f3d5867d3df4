public import ArrayTransport
import FlyingFox
import Foundation

/// Reads a page of a ``MetricsServer`` (`aq-relay stats`, and the check that a relay of the
/// same name is not running already).
public enum MetricsClient {
    /// GETs `path` from the server at `endpoint` and returns the body.
    ///
    /// - Throws: a runtime error when nothing answers within `timeout`, or the answer is not
    ///   200 OK; a configuration error for an endpoint a server cannot have.
    public static func get(_ path: String, from endpoint: Endpoint, timeout: Duration) async throws(RelayError) -> String {
        let address = try MetricsServer.socketAddress(endpoint)
        let request = HTTPRequest(method: .GET, version: .http11, path: path, query: [],
                                  headers: [.host: "localhost", .connection: "close"], body: Data())
        let outcome: Result<HTTPResponse, any Error>? = await withTaskGroup(of: Result<HTTPResponse, any Error>?.self) { group in
            group.addTask {
                var client = HTTPClient()
                do { return .success(try await client.sendHTTPRequest(request, to: address)) } catch { return .failure(error) }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch outcome {
        case nil:
            throw .runtime("no answer from \(endpoint) within \(timeout): is the relay running?")
        case .failure(let error)?:
            throw .runtime("cannot reach \(endpoint): \(error)")
        case .success(let response)?:
            let body = String(decoding: (try? await response.bodyData) ?? Data(), as: UTF8.self)
            guard response.statusCode == .ok else {
                throw .runtime("\(endpoint)\(path) answered \(response.statusCode.code): \(body.prefix(200))")
            }
            return body
        }
    }
}
