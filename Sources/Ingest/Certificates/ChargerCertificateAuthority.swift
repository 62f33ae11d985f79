import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Why the charger CA could not be loaded.
public struct ChargerCertificateAuthorityError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Why a certificate signing request was not signed (the charger is answered Rejected).
struct CertificateRequestRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The CA that signs chargers' certificates (SignCertificate): a CA certificate, optionally
/// followed by the certificates that issued it, and its private key (P-256 or P-384 EC, or
/// RSA; PKCS#8, SEC1 or PKCS#1 PEM).
///
/// A request is signed only when its signature verifies, its key is EC P-256/P-384 or RSA of
/// 2048 bits or more, and its subject's common name is the charge point id (as the OCPP 1.6
/// Security Whitepaper prescribes). The certificate issued is an X.509 v3 client
/// certificate with a random serial, the request's subject, valid from five minutes before
/// `now` for ``lifetimeDays`` (never beyond the CA's own expiry).
public struct ChargerCertificateAuthority: Sendable, Hashable {
    /// The CA certificate, then the certificates above it, as loaded.
    let chain: [Certificate]
    let privateKey: Certificate.PrivateKey
    /// How long an issued certificate is valid.
    public let lifetimeDays: Int

    /// The clock skew tolerated: certificates are valid from this long before they are issued.
    static let backdating: TimeInterval = 5 * 60

    /// Loads the CA from PEM files.
    /// - Parameters:
    ///   - certificateFile: The CA certificate (first) and the certificates above it, if any.
    ///   - keyFile: The CA's private key.
    ///   - lifetimeDays: How long the certificates it issues are valid (1 or more).
    /// - Throws: ``ChargerCertificateAuthorityError`` naming the file and what is wrong with it.
    public init(
        certificateFile: String,
        keyFile: String,
        lifetimeDays: Int = 365
    )
        throws(ChargerCertificateAuthorityError)
    {
        let certificates: String
        let key: String
        do {
            certificates = try String(contentsOfFile: certificateFile, encoding: .utf8)
        } catch {
            throw ChargerCertificateAuthorityError(
                "cannot read the charger CA certificate \(certificateFile): \(error)"
            )
        }
        do {
            key = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw ChargerCertificateAuthorityError("cannot read the charger CA key \(keyFile): \(error)")
        }
        do {
            try self.init(certificateChainPEM: certificates, privateKeyPEM: key, lifetimeDays: lifetimeDays)
        } catch {
            throw ChargerCertificateAuthorityError(
                "\(error.description) (certificate \(certificateFile), key \(keyFile))"
            )
        }
    }

    /// Loads the CA from PEM text.
    /// - Throws: ``ChargerCertificateAuthorityError`` when a certificate or the key does not
    ///   parse, the key is not the CA certificate's, or the certificate is not a CA's.
    public init(
        certificateChainPEM: String,
        privateKeyPEM: String,
        lifetimeDays: Int = 365
    )
        throws(ChargerCertificateAuthorityError)
    {
        guard lifetimeDays >= 1 else {
            throw ChargerCertificateAuthorityError(
                "the certificate lifetime must be 1 day or more, got \(lifetimeDays)"
            )
        }
        var chain: [Certificate] = []
        do {
            for document in try PEMDocument.parseMultiple(pemString: certificateChainPEM) {
                chain.append(try Certificate(pemDocument: document))
            }
        } catch {
            throw ChargerCertificateAuthorityError(
                "the charger CA certificate is not a PEM X.509 certificate: \(error)"
            )
        }
        guard let certificate = chain.first else {
            throw ChargerCertificateAuthorityError("the charger CA certificate file holds no certificate")
        }
        let privateKey = try Self.privateKey(privateKeyPEM)
        guard privateKey.publicKey == certificate.publicKey else {
            throw ChargerCertificateAuthorityError("the charger CA key does not belong to the CA certificate")
        }
        let constraints: BasicConstraints?
        let usage: KeyUsage?
        do {
            constraints = try certificate.extensions.basicConstraints
            usage = try certificate.extensions.keyUsage
        } catch {
            throw ChargerCertificateAuthorityError("the charger CA certificate's extensions do not parse: \(error)")
        }
        if let constraints, case .notCertificateAuthority = constraints {
            throw ChargerCertificateAuthorityError(
                "the charger CA certificate is not a CA certificate (basicConstraints CA:FALSE)"
            )
        }
        if let usage, !usage.keyCertSign {
            throw ChargerCertificateAuthorityError(
                "the charger CA certificate may not sign certificates (keyUsage lacks keyCertSign)"
            )
        }
        self.chain = chain
        self.privateKey = privateKey
        self.lifetimeDays = lifetimeDays
    }

    /// The CA certificate.
    var certificate: Certificate { chain[0] }

    /// The private key of a PEM key file: its one key block (an `EC PARAMETERS` block that
    /// `openssl ecparam -genkey` writes before it is skipped).
    private static func privateKey(_ pem: String) throws(ChargerCertificateAuthorityError) -> Certificate.PrivateKey {
        let expected = "a PEM private key (P-256, P-384 or RSA; PKCS#8, SEC1 or PKCS#1)"
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw ChargerCertificateAuthorityError("the charger CA key is not \(expected): \(error)")
        }
        if documents.contains(where: { $0.discriminator == "ENCRYPTED PRIVATE KEY" }) {
            throw ChargerCertificateAuthorityError(
                "the charger CA key is encrypted; give it unencrypted (openssl pkey -in key.pem -out plain.pem)"
            )
        }
        let keys = documents.filter { ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"].contains($0.discriminator) }
        guard keys.count == 1, let key = keys.first else {
            throw ChargerCertificateAuthorityError(
                "the charger CA key is not \(expected): the file holds \(keys.count) private keys"
            )
        }
        do {
            return try Certificate.PrivateKey(pemDocument: key)
        } catch {
            throw ChargerCertificateAuthorityError("the charger CA key is not \(expected): \(error)")
        }
    }

    /// Signs a charger's certificate signing request.
    /// - Parameters:
    ///   - csrPEM: The request, PEM-encoded (as SignCertificate carries it).
    ///   - chargePointID: The charger that sent it: the request's common name must be this.
    ///   - now: The time of issue.
    /// - Returns: The PEM certificates of the chain, each ending in a line break: the
    ///   charger's certificate, then the CA's
    ///   (and those above it).
    /// - Throws: ``CertificateRequestRefusal`` with the reason the request is refused.
    func sign(csrPEM: String, chargePointID: String, now: Date) throws(CertificateRequestRefusal) -> [String] {
        let request: CertificateSigningRequest
        do {
            // Some tools label a CSR `NEW CERTIFICATE REQUEST`; its content is the same.
            let document = try PEMDocument(pemString: csrPEM)
            guard ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"].contains(document.discriminator) else {
                throw CertificateRequestRefusal("its PEM block is a \(document.discriminator)")
            }
            request = try CertificateSigningRequest(derEncoded: document.derBytes)
        } catch {
            throw CertificateRequestRefusal("the CSR is not a PEM certificate signing request: \(error)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw CertificateRequestRefusal("the CSR's signature does not verify with its public key")
        }
        let commonNames = Self.commonNames(of: request.subject)
        guard commonNames == [chargePointID] else {
            throw CertificateRequestRefusal(
                "the CSR's subject common name must be the charge point id '\(chargePointID)', "
                    + "got \(commonNames.isEmpty ? "none" : commonNames.map { "'\($0)'" }.joined(separator: ", "))"
            )
        }
        let isRSA: Bool
        if P256.Signing.PublicKey(request.publicKey) != nil || P384.Signing.PublicKey(request.publicKey) != nil {
            isRSA = false
        } else if let rsa = _RSA.Signing.PublicKey(request.publicKey) {
            guard rsa.keySizeInBits >= 2048 else {
                throw CertificateRequestRefusal("the CSR's RSA key has \(rsa.keySizeInBits) bits; 2048 or more needed")
            }
            isRSA = true
        } else {
            throw CertificateRequestRefusal(
                "the CSR's key is \(request.publicKey); EC P-256, EC P-384 or RSA (2048 bits or more) needed"
            )
        }
        let notBefore = now.addingTimeInterval(-Self.backdating)
        let notAfter = min(
            now.addingTimeInterval(TimeInterval(lifetimeDays) * 86_400),
            certificate.notValidAfter
        )
        guard notAfter > now else {
            throw CertificateRequestRefusal("the charger CA certificate has expired")
        }
        do {
            let authorityKeyID =
                try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
                ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(
                    KeyUsage(digitalSignature: true, keyEncipherment: isRSA, keyAgreement: !isRSA)
                )
                try ExtendedKeyUsage([.clientAuth])
                SubjectKeyIdentifier(hash: request.publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
            }
            let issued = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: request.publicKey,
                notValidBefore: notBefore,
                notValidAfter: notAfter,
                issuer: certificate.subject,
                subject: request.subject,
                extensions: extensions,
                issuerPrivateKey: privateKey
            )
            return try ([issued] + chain).map { try $0.serializeAsPEM().pemString + "\n" }
        } catch {
            throw CertificateRequestRefusal("signing the certificate failed: \(error)")
        }
    }

    /// Why `certificatePEM` is not one PEM-encoded X.509 certificate, or `nil` when it is.
    public static func problem(certificatePEM: String) -> String? {
        do {
            _ = try Certificate(pemEncoded: certificatePEM)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The common names of a distinguished name, in order.
    static func commonNames(of name: DistinguishedName) -> [String] {
        name.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }.map {
            String($0.value) ?? $0.value.description
        }
    }
}
