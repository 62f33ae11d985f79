import Foundation
public import NIOSSL

/// The TLS listener's settings: its port, the server certificate (chain) and key, and the
/// CA that client certificates must come from, all PEM files.
public struct TLSSettings: Sendable, Hashable {
    /// The port of `wss://` and HTTPS.
    public var port: Int
    /// The server certificate, followed by its intermediates (PEM).
    public var certificateFile: String
    /// The server certificate's private key (PEM).
    public var keyFile: String
    /// The CA client certificates are verified against (PEM); without it no client
    /// certificate is asked for, and profile-3 chargers cannot connect.
    public var clientCAFile: String?

    /// - Parameters:
    ///   - port: The port of `wss://` and HTTPS.
    ///   - certificateFile: The server certificate chain (PEM).
    ///   - keyFile: Its private key (PEM).
    ///   - clientCAFile: The CA client certificates are verified against (PEM).
    public init(port: Int, certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.port = port
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
    }

    /// Seconds a new connection has to finish its TLS handshake; the upgrade request's own
    /// timeout starts after it.
    public static let handshakeTimeout = 60

    /// The cipher suites of TLS 1.2 that the OCPP 1.6 Security Whitepaper (edition 3)
    /// prescribes. TLS 1.3 connections use BoringSSL's TLS 1.3 suites (all AEAD).
    public static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ]

    /// Reads the files and builds the server's TLS context: TLS 1.2 or higher, the
    /// whitepaper's cipher suites, and with a client CA, client certificates verified against
    /// it when presented (a charger of profile 1 or 2 presents none; one that fails
    /// verification, expired or from another CA, fails the handshake).
    /// - Throws: ``TLSSettingsError`` naming the file and the problem.
    public func makeContext() throws(TLSSettingsError) -> NIOSSLContext {
        let chain = try Self.certificates(in: certificateFile, setting: "TLS_CERT_FILE")
        let keyBytes = try Self.read(keyFile, setting: "TLS_KEY_FILE")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw TLSSettingsError("TLS_KEY_FILE '\(keyFile)' holds no PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = Self.cipherSuites
        if let clientCAFile {
            let roots = try Self.certificates(in: clientCAFile, setting: "TLS_CLIENT_CA_FILE")
            configuration.certificateVerification = .optionalVerification
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = true
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSettingsError(
                "TLS_CERT_FILE '\(certificateFile)' and TLS_KEY_FILE '\(keyFile)' do not make a TLS context "
                    + "(does the key belong to the certificate?): \(error)"
            )
        }
    }

    private static func read(_ path: String, setting: String) throws(TLSSettingsError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TLSSettingsError("\(setting) '\(path)' cannot be read")
        }
        return [UInt8](data)
    }

    private static func certificates(in path: String, setting: String) throws(TLSSettingsError) -> [NIOSSLCertificate] {
        let bytes = try read(path, setting: setting)
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw TLSSettingsError("\(setting) '\(path)' holds no valid PEM certificate: \(error)")
        }
        guard !certificates.isEmpty else { throw TLSSettingsError("\(setting) '\(path)' holds no PEM certificate") }
        return certificates
    }
}

/// A TLS setting that cannot be used: a file that cannot be read or does not hold what it
/// should.
public struct TLSSettingsError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
