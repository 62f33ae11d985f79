import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority made inside a test (EC P-256), and the certificates it issues,
/// written as PEM files into a directory for the server and the clients to load.
struct TestCertificateAuthority {
    let name: String
    let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// A self-signed CA valid from an hour ago for a day.
    init(name: String) throws {
        self.name = name
        key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now - 3600,
            notValidAfter: now + 86_400,
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
    }

    /// A leaf certificate with subject `commonName`: a server's (for `localhost` and
    /// 127.0.0.1) or a client's.
    func issue(
        commonName: String,
        server: Bool,
        notValidBefore: Date = Date() - 3600,
        notValidAfter: Date = Date() + 86_400
    ) throws -> IssuedCertificate {
        let leafKey = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(leafKey.publicKey),
            notValidBefore: notValidBefore,
            notValidAfter: notValidAfter,
            issuer: self.certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([server ? .serverAuth : .clientAuth])
                if server { SubjectAlternativeNames([.dnsName("localhost"), .ipAddress([127, 0, 0, 1])]) }
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return IssuedCertificate(certificate: certificate, key: leafKey)
    }

    /// Writes the CA certificate as `{file}.pem` into `directory` and returns its path.
    func write(to directory: URL, as file: String) throws -> String {
        let url = directory.appendingPathComponent("\(file).pem")
        try certificate.serializeAsPEM().pemString.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

/// A leaf certificate and its key.
struct IssuedCertificate {
    let certificate: Certificate
    let key: P256.Signing.PrivateKey

    /// Writes `{file}.crt.pem` and `{file}.key.pem` into `directory`.
    func write(to directory: URL, as file: String) throws -> (certificate: String, key: String) {
        let certificateURL = directory.appendingPathComponent("\(file).crt.pem")
        let keyURL = directory.appendingPathComponent("\(file).key.pem")
        try certificate.serializeAsPEM().pemString.write(to: certificateURL, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(to: keyURL, atomically: true, encoding: .utf8)
        return (certificateURL.path, keyURL.path)
    }
}

extension GeneralName {
    fileprivate static func ipAddress(_ bytes: [UInt8]) -> GeneralName {
        .ipAddress(.init(contentBytes: bytes[...]))
    }
}
