import ArgumentParser
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// `ws://host:port/path` or `wss://host:port/path`.
struct Endpoint: Sendable {
    var host: String
    var port: Int
    var path: String
    /// `wss://`: TLS (OCPP security profiles 2 and 3).
    var secure: Bool

    init(_ url: String) throws {
        if url.hasPrefix("wss://") {
            secure = true
        } else if url.hasPrefix("ws://") {
            secure = false
        } else {
            throw ValidationError("--url must start with ws:// or wss:// (got \(url))")
        }
        let rest = url.dropFirst(secure ? 6 : 5)
        let authority = rest.prefix { $0 != "/" }
        path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        let parts = authority.split(separator: ":")
        host = String(parts.first ?? "127.0.0.1")
        port = parts.count > 1 ? Int(parts[1]) ?? -1 : (secure ? 443 : 80)
        guard (1...65535).contains(port) else { throw ValidationError("--url has a bad port: \(url)") }
    }

    /// Whether the host is an IP address (certificates are then checked against it, and no
    /// server name is sent).
    var hostIsAddress: Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// The HTTP Basic credentials each charger sends on the upgrade (OCPP security profiles 1
/// and 2): the user name is the charge point id, the password the AuthorizationKey's bytes.
enum UpgradeAuthentication: Sendable {
    case none
    /// One key for every charger.
    case shared([UInt8])
    /// Each charger's own key, derived from its id by `derivedKey(chargePointID:)`.
    case perCharger

    /// The key a charger gets under `--auth-key-per-charger`: the first 20 bytes of
    /// SHA-256("bench:" + id), so that a provisioning step can set the same keys.
    static func derivedKey(chargePointID: String) -> [UInt8] {
        Array(SHA256.hash(data: Array("bench:\(chargePointID)".utf8)).prefix(20))
    }

    /// The key `chargePointID` authenticates with, if any.
    func key(chargePointID: String) -> [UInt8]? {
        switch self {
        case .none: nil
        case .shared(let key): key
        case .perCharger: Self.derivedKey(chargePointID: chargePointID)
        }
    }

    /// The `Authorization` header value; `hexText` sends the key's hex text as the password
    /// instead of its bytes.
    func headerValue(chargePointID: String, hexText: Bool) -> String? {
        guard let key = key(chargePointID: chargePointID) else { return nil }
        var credentials = Array(chargePointID.utf8) + [UInt8(ascii: ":")]
        credentials += hexText ? Array(hexString(key).utf8) : key
        return "Basic " + Data(credentials).base64EncodedString()
    }
}

/// Lowercase hex.
func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// The bytes of a hex string, or nil.
func bytes(hex text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var result: [UInt8] = []
    result.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
        result.append(high << 4 | low)
        index += 2
    }
    return result
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// How every charger reaches the central system.
struct ConnectionOptions: Sendable {
    var endpoint: Endpoint
    /// The endpoint's host and port, resolved once.
    var address: SocketAddress
    /// For `wss://`: one client context shared by every connection.
    var tls: NIOSSLContext?
    var authentication: UpgradeAuthentication
    /// Send the key's hex text as the password instead of its bytes.
    var passwordAsHexText: Bool
    var connectTimeout: TimeAmount
    /// How long the TLS handshake and the upgrade may take after the TCP connect.
    var upgradeTimeout: TimeAmount

    /// The client TLS context: the server's certificate is checked against `caFile` (or the
    /// system's roots) and against the host name or address in the URL.
    static func makeTLSContext(
        caFile: String?,
        clientCertificateFile: String?,
        clientKeyFile: String?,
        maximumVersion: String?,
        groups: String? = nil
    ) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch maximumVersion {
        case nil: break
        case "1.2": configuration.maximumTLSVersion = .tlsv12
        case "1.3": configuration.maximumTLSVersion = .tlsv13
        case let other?: throw ValidationError("--tls-max-version is 1.2 or 1.3, not \(other)")
        }
        if let groups { configuration.curves = try curves(groups) }
        if let caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        if let clientCertificateFile, let clientKeyFile {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(clientCertificateFile).map {
                .certificate($0)
            }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientKeyFile, format: .pem))
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The groups `--tls-groups` names, in its order.
    static func curves(_ list: String) throws -> [NIOTLSCurve] {
        let names = list.split(separator: ",")
        guard !names.isEmpty else { throw ValidationError("--tls-groups names no group") }
        return try names.map { name in
            switch name.trimmingCharacters(in: .whitespaces).lowercased() {
            case "p256", "secp256r1": .secp256r1
            case "p384", "secp384r1": .secp384r1
            case "x25519": .x25519
            case "x25519mlkem768": .x25519_MLKEM768
            default: throw ValidationError("--tls-groups: unknown group '\(name)' (p256, p384, x25519, x25519mlkem768)")
            }
        }
    }
}

/// The status of the server's answer to the upgrade request, recorded on the way past.
final class UpgradeStatus: Sendable {
    private let status = Mutex<HTTPResponseStatus?>(nil)

    var value: HTTPResponseStatus? { status.withLock { $0 } }

    func record(_ value: HTTPResponseStatus) { status.withLock { $0 = value } }
}

/// Sits between the HTTP decoder and the upgrade handler and notes the response status
/// (the upgrade handler drops a refusal's head); it leaves the pipeline at a 101.
final class UpgradeStatusRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = HTTPClientResponsePart

    private let status: UpgradeStatus

    init(status: UpgradeStatus) { self.status = status }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        status.record(head.status)
        context.fireChannelRead(data)
        if head.status == .switchingProtocols {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }
}

/// A connection attempt that did not become a WebSocket.
struct UpgradeRefused: Error, CustomStringConvertible {
    /// The HTTP status the server refused the upgrade with, if it answered one.
    var status: HTTPResponseStatus?
    let description: String

    init(status: HTTPResponseStatus? = nil, description: String) {
        self.status = status
        self.description = description
    }
}
