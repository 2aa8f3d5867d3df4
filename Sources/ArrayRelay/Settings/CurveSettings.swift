public import ArrayTransport
import Dispatch
import Foundation
public import Logging

/// The CURVE part of `serve`'s and `subscribe`'s settings, checked as a whole when the
/// settings are resolved, so that `--check` reports a half-configured CURVE (exit status 2)
/// instead of a relay that runs in plain text.
public enum CurveSettings {
    /// A relay's server security: its secret key, and the clients it accepts.
    ///
    /// - Throws: a configuration error for an allow-list without a secret key, or a key file
    ///   that is unreadable, too open, or holds no valid key.
    public static func server(secretKeyFile: String?, allowedClients: String?) throws(RelayError) -> (CurveSecurity, CurveAllowList?)? {
        guard let secretKeyFile else {
            if let allowedClients {
                throw .configuration("curve_allowed_clients (\(allowedClients)) needs curve_secret_key_file too: without the relay's secret key there is no CURVE, and an allow-list would protect nothing")
            }
            return nil
        }
        let keys = try readCurveKeys(file: secretKeyFile)
        let clients = try allowedClients.map { path throws(RelayError) in try readAllowList(path) }
        return (.server(keys), clients)
    }

    /// A subscriber's client security: the relay's public key, and this subscriber's keys (a
    /// new pair for each run without a secret key file).
    ///
    /// - Throws: a configuration error for a secret key without the relay's public key, a bad
    ///   public key, or a key file that is unreadable, too open, or holds no valid key.
    public static func client(serverKey: String?, secretKeyFile: String?) throws(RelayError) -> CurveSecurity? {
        guard let serverKey else {
            if let secretKeyFile {
                throw .configuration("curve_secret_key_file (\(secretKeyFile)) needs curve_server_key too: without the relay's public key the subscriber would connect in plain text")
            }
            return nil
        }
        // A public key decodes like a secret one: 40 Z85 characters.
        guard serverKey.utf8.count == 40, (try? CurveKeys(secretKey: serverKey)) != nil else {
            throw .configuration("curve_server_key must be the relay's public key: 40 Z85 characters, not \(serverKey.utf8.count) characters")
        }
        if let secretKeyFile { return .client(try readCurveKeys(file: secretKeyFile), serverPublicKey: serverKey) }
        do throws(TransportError) {
            return .client(try CurveKeys.generate(), serverPublicKey: serverKey)
        } catch {
            throw .configuration("cannot make a CURVE key pair: \(error.message)")
        }
    }

    /// Reads an allow-list file or directory.
    public static func readAllowList(_ path: String) throws(RelayError) -> CurveAllowList {
        do throws(TransportError) {
            return try CurveAllowList(contentsOf: path)
        } catch {
            throw .configuration("curve_allowed_clients: \(error.message)")
        }
    }
}

/// Reads a CURVE secret key file: refused if group or others may read it (see
/// `CurveKeys(secretKeyFile:)`).
public func readCurveKeys(file: String) throws(RelayError) -> CurveKeys {
    do throws(TransportError) {
        return try CurveKeys(secretKeyFile: file)
    } catch {
        throw .configuration(error.message)
    }
}

/// Reloads an allow-list when the process gets SIGHUP; a list that fails to load is logged and
/// the old keys stay in force.
public final class AllowListReloader {
    private let source: any DispatchSourceSignal

    /// Starts reloading `list` on SIGHUP (and ignores SIGHUP's default action).
    public init(_ list: CurveAllowList, logger: Logger) {
        // Dispatch delivers the signal; its default action (exit) must be off.
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            do throws(TransportError) {
                let count = try list.reload()
                logger.notice("SIGHUP: reloaded the CURVE allow-list \(list.path ?? ""): \(count) client keys")
            } catch {
                logger.error("SIGHUP: cannot reload the CURVE allow-list, the previous keys stay in force: \(error.message)")
            }
        }
        source.resume()
    }

    deinit { source.cancel() }
}
