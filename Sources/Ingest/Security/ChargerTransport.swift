import SwiftASN1
import X509

/// How a charger's connection reached the server: plain TCP (`ws://`) or TLS (`wss://`),
/// and over TLS the subject common name of the client certificate it presented, if any.
///
/// The TLS listener asks for client certificates only when a client CA is configured, and
/// the TLS handshake has already verified a presented certificate against that CA (a
/// certificate that fails verification ends the handshake), so a common name here comes
/// from a valid certificate.
public enum ChargerTransport: Sendable, Hashable {
    /// Plain TCP.
    case plain
    /// TLS; `clientCertificateCommonName` is the verified client certificate's subject CN.
    case tls(clientCertificateCommonName: String?)

    /// Whether the connection is encrypted.
    public var isTLS: Bool {
        if case .tls = self { return true }
        return false
    }
}

extension ChargerTransport {
    /// The subject common name of a DER certificate; `nil` when it cannot be parsed, or its
    /// subject has no common name or more than one (which would make the identity ambiguous).
    public static func commonName(derEncoded der: [UInt8]) -> String? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        let names = certificate.subject.flatMap { $0 }
            .filter { $0.type == .RDNAttributeType.commonName }
            .compactMap { String($0.value) }
        return names.count == 1 ? names[0] : nil
    }
}
