import Crypto
import Foundation
import Protocol
import Relational
import SwiftASN1
import TestSupport
import Testing
import TimeSeries
import X509
import _CryptoExtras

@testable import API
@testable import Ingest

/// Charger certificates: the charger CA, SignCertificate to CertificateSigned over a real
/// WebSocket, the security command endpoints and the events endpoint.
@Suite("Charger certificates", .serialized)
struct CertificateTests {
    typealias HTTP = CommandEndpointTests

    /// A CA made here, as an operator's would be.
    struct TestCA {
        let key: Certificate.PrivateKey
        let certificate: Certificate
        let certificatePEM: String
        let keyPEM: String

        init(name: String = "Test Charger CA", key: Certificate.PrivateKey? = nil, isCA: Bool = true) throws {
            let key = key ?? Certificate.PrivateKey(P256.Signing.PrivateKey())
            let subject = try DistinguishedName { CommonName(name) }
            let now = Date()
            let extensions = try Certificate.Extensions {
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: 0) : .notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: !isCA, keyCertSign: isCA, cRLSign: isCA))
                SubjectKeyIdentifier(hash: key.publicKey)
            }
            certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: now - 3600,
                notValidAfter: now + 10 * 365 * 86_400,
                issuer: subject,
                subject: subject,
                extensions: extensions,
                issuerPrivateKey: key
            )
            self.key = key
            certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
            keyPEM = try key.serializeAsPEM().pemString + "\n"
        }

        func authority(lifetimeDays: Int = 365) throws -> ChargerCertificateAuthority {
            try ChargerCertificateAuthority(
                certificateChainPEM: certificatePEM,
                privateKeyPEM: keyPEM,
                lifetimeDays: lifetimeDays
            )
        }
    }

    /// A PEM CSR for `commonName`, signed with `key` (a new P-256 key by default).
    static func csr(_ commonName: String, key: Certificate.PrivateKey? = nil) throws -> String {
        let request = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName {
                OrganizationName("Acme Charging")
                CommonName(commonName)
            },
            privateKey: key ?? Certificate.PrivateKey(P256.Signing.PrivateKey()),
            attributes: CertificateSigningRequest.Attributes()
        )
        return try request.serializeAsPEM().pemString + "\n"
    }

    /// A CSR whose signature was made by another key than the one it carries.
    static func forgedCSR(_ commonName: String) throws -> String {
        let subject = try DistinguishedName { CommonName(commonName) }
        let signer = try CertificateSigningRequest(
            version: .v1,
            subject: subject,
            privateKey: Certificate.PrivateKey(P256.Signing.PrivateKey()),
            attributes: CertificateSigningRequest.Attributes()
        )
        let forged = try CertificateSigningRequest(
            version: .v1,
            subject: subject,
            publicKey: Certificate.PrivateKey(P256.Signing.PrivateKey()).publicKey,
            attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: signer.signatureAlgorithm,
            signature: signer.signature
        )
        return try forged.serializeAsPEM().pemString + "\n"
    }

    /// The certificates of a PEM chain.
    static func certificates(_ pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
    }

    /// Whether `chain` (leaf first) verifies up to `root`.
    static func verifies(_ chain: [Certificate], root: Certificate) async -> Bool {
        guard let leaf = chain.first else { return false }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy()
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst()))
        if case .validCertificate = result { return true }
        return false
    }

    /// A JSON text with one string member.
    static func json(_ key: String, _ value: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: [key: value]), as: UTF8.self)
    }

    // MARK: - The CA

    @Test("The CA loads from PEM files and refuses a key, certificate or file that does not fit")
    func loading() throws {
        let ca = try TestCA()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let certificate = try file("ca.pem", ca.certificatePEM)
        let key = try file("ca.key", ca.keyPEM)
        let loaded = try ChargerCertificateAuthority(certificateFile: certificate, keyFile: key, lifetimeDays: 30)
        #expect(loaded.lifetimeDays == 30)
        #expect(loaded.certificate == ca.certificate)

        func refusal(_ load: () throws -> Void) -> String {
            do {
                try load()
                return ""
            } catch {
                return "\(error)"
            }
        }
        let otherKey = try file("other.key", try TestCA().keyPEM)
        #expect(
            refusal { _ = try ChargerCertificateAuthority(certificateFile: certificate, keyFile: otherKey) }
                .contains("does not belong")
        )
        let missing = directory.appendingPathComponent("missing.pem").path
        #expect(
            refusal { _ = try ChargerCertificateAuthority(certificateFile: missing, keyFile: key) }.contains(missing)
        )
        let garbage = try file("garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        #expect(
            refusal { _ = try ChargerCertificateAuthority(certificateFile: garbage, keyFile: key) }
                .contains("not a PEM X.509 certificate")
        )
        #expect(
            refusal { _ = try ChargerCertificateAuthority(certificateFile: certificate, keyFile: certificate) }
                .contains("not a PEM private key")
        )
        let leafKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let leaf = try TestCA(name: "not a CA", key: leafKey, isCA: false)
        #expect(
            refusal {
                _ = try ChargerCertificateAuthority(
                    certificateChainPEM: leaf.certificatePEM,
                    privateKeyPEM: leaf.keyPEM
                )
            }.contains("not a CA certificate")
        )
        #expect(refusal { _ = try ca.authority(lifetimeDays: 0) }.contains("1 day or more"))
        // `openssl ecparam -genkey` writes the curve's parameters before the key.
        let parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        let withParameters = try ChargerCertificateAuthority(
            certificateChainPEM: ca.certificatePEM,
            privateKeyPEM: parameters + ca.keyPEM
        )
        #expect(withParameters.certificate == ca.certificate)
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        #expect(
            refusal {
                _ = try ChargerCertificateAuthority(certificateChainPEM: ca.certificatePEM, privateKeyPEM: encrypted)
            }.contains("encrypted")
        )
        #expect(
            refusal {
                _ = try ChargerCertificateAuthority(
                    certificateChainPEM: ca.certificatePEM,
                    privateKeyPEM: ca.keyPEM + (try TestCA().keyPEM)
                )
            }.contains("2 private keys")
        )
    }

    @Test("A CSR is signed into a v3 client certificate of the charger, chained to the CA (EC and RSA)")
    func signing() async throws {
        for caKey in [
            Certificate.PrivateKey(P256.Signing.PrivateKey()),
            Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048)),
        ] {
            let ca = try TestCA(key: caKey)
            let authority = try ca.authority(lifetimeDays: 30)
            let requestKeys: [(Certificate.PrivateKey, rsa: Bool)] = [
                (Certificate.PrivateKey(P256.Signing.PrivateKey()), false),
                (Certificate.PrivateKey(P384.Signing.PrivateKey()), false),
                (Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048)), true),
            ]
            for (key, isRSA) in requestKeys {
                let now = Date()
                let chain = try authority.sign(
                    csrPEM: try Self.csr("CP-SIGN", key: key),
                    chargePointID: "CP-SIGN",
                    now: now
                )
                #expect(chain.count == 2)
                let certificates = try Self.certificates(chain.joined())
                #expect(certificates.count == 2)
                let leaf = try #require(certificates.first)
                #expect(certificates.last == ca.certificate)
                #expect(await Self.verifies(certificates, root: ca.certificate))
                #expect(!(await Self.verifies(certificates, root: try TestCA().certificate)))
                #expect(leaf.version == .v3)
                #expect(leaf.publicKey == key.publicKey)
                #expect(ChargerCertificateAuthority.commonNames(of: leaf.subject) == ["CP-SIGN"])
                #expect(leaf.subject.description.contains("O=Acme Charging"))
                #expect(leaf.issuer == ca.certificate.subject)
                #expect(abs(leaf.notValidBefore.timeIntervalSince(now - 300)) < 2)
                #expect(abs(leaf.notValidAfter.timeIntervalSince(now + 30 * 86_400)) < 2)
                let extensions = leaf.extensions
                #expect(try extensions.basicConstraints == .notCertificateAuthority)
                let usage = try #require(try extensions.keyUsage)
                #expect(usage.digitalSignature)
                #expect(usage.keyEncipherment == isRSA)
                #expect(usage.keyAgreement == !isRSA)
                #expect(!usage.keyCertSign)
                #expect(try extensions.extendedKeyUsage == ExtendedKeyUsage([.clientAuth]))
                #expect(try extensions.subjectKeyIdentifier == SubjectKeyIdentifier(hash: key.publicKey))
                #expect(
                    try extensions.authorityKeyIdentifier?.keyIdentifier
                        == ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
                )
            }
            // A CSR labelled NEW CERTIFICATE REQUEST, with CRLF line ends, is the same request.
            let labelled = try Self.csr("CP-SIGN").replacingOccurrences(
                of: "CERTIFICATE REQUEST",
                with: "NEW CERTIFICATE REQUEST"
            )
            .replacingOccurrences(of: "\n", with: "\r\n")
            #expect(try authority.sign(csrPEM: labelled, chargePointID: "CP-SIGN", now: Date()).count == 2)
            // Two requests get two serial numbers.
            let first = try Self.certificates(
                try authority.sign(csrPEM: Self.csr("A"), chargePointID: "A", now: Date())[0]
            )
            let second = try Self.certificates(
                try authority.sign(csrPEM: Self.csr("A"), chargePointID: "A", now: Date())[0]
            )
            #expect(first[0].serialNumber != second[0].serialNumber)
        }
    }

    @Test("An openssl CA (SEC1 key after its parameters, PKCS#1 RSA key) signs an openssl CSR")
    func opensslMade() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openssl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw TestFailure("openssl \(arguments) failed") }
        }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-out", "ec.key"])
        try openssl(["req", "-x509", "-new", "-key", "ec.key", "-subj", "/CN=EC CA", "-days", "30", "-out", "ec.pem"])
        try openssl(["genrsa", "-traditional", "-out", "rsa.key", "2048"])
        try openssl([
            "req", "-x509", "-new", "-key", "rsa.key", "-subj", "/CN=RSA CA", "-days", "30", "-out", "rsa.pem",
        ])
        try openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "cp.key"])
        try openssl(["req", "-new", "-key", "cp.key", "-subj", "/O=Acme/CN=CP-OSSL", "-out", "cp.csr"])
        let csr = try String(contentsOfFile: path("cp.csr"), encoding: .utf8)
        for name in ["ec", "rsa"] {
            let authority = try ChargerCertificateAuthority(
                certificateFile: path("\(name).pem"),
                keyFile: path("\(name).key")
            )
            let chain = try Self.certificates(
                try authority.sign(csrPEM: csr, chargePointID: "CP-OSSL", now: Date()).joined()
            )
            #expect(await Self.verifies(chain, root: authority.certificate), "\(name)")
            #expect(ChargerCertificateAuthority.commonNames(of: chain[0].subject) == ["CP-OSSL"])
            // Issued no later than the CA expires.
            #expect(chain[0].notValidAfter <= authority.certificate.notValidAfter)
        }
    }

    @Test("Wrong common name, forged signature, garbage and unsupported keys are refused with a reason")
    func refusals() throws {
        let authority = try TestCA().authority()
        func reason(_ csr: String, _ id: String = "CP-1") -> String {
            do {
                _ = try authority.sign(csrPEM: csr, chargePointID: id, now: Date())
                return ""
            } catch {
                return error.description
            }
        }
        #expect(reason(try Self.csr("CP-2")).contains("common name must be the charge point id 'CP-1', got 'CP-2'"))
        #expect(reason(try Self.forgedCSR("CP-1")).contains("signature does not verify"))
        #expect(
            reason("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----").contains("not a PEM")
        )
        #expect(reason("hello").contains("not a PEM"))
        #expect(
            reason(try Self.csr("CP-1", key: Certificate.PrivateKey(Curve25519.Signing.PrivateKey())))
                .contains("P-256")
        )
        #expect(reason(try Self.csr("CP-1", key: Certificate.PrivateKey(P521.Signing.PrivateKey()))).contains("P-256"))
        // The CA certificate itself is no CSR.
        #expect(reason(try TestCA().certificatePEM).contains("not a PEM certificate signing request"))
    }

    @Test("The planner answers Accepted with CertificateSigned to follow, or Rejected with the reason")
    func planning() throws {
        let ca = try TestCA()
        // With a CA, the planner asks for the signing as a step off the event loop, then
        // decides on its outcome (the services sign as below; signCertificateEndToEnd runs them).
        func plan(_ csr: String, _ authority: ChargerCertificateAuthority?) -> PlannedResult {
            let request = SignCertificateRequest(csr: csr)
            let now: Int64 = 1_780_000_000_000
            let configuration = IngestConfiguration(chargerCertificateAuthority: authority)
            var planned = RequestPlanner.certificateSigning(
                request,
                chargePointID: "CP-PLAN",
                now: now,
                configuration: configuration
            )
            if case .database(.signCertificate(let asked)) = planned, let authority {
                #expect(asked == csr)
                let outcome: DatabaseOutcome
                do {
                    outcome = .signed(
                        try authority.sign(
                            csrPEM: asked,
                            chargePointID: "CP-PLAN",
                            now: Date(timeIntervalSince1970: 1_780_000_000)
                        )
                    )
                } catch {
                    outcome = .signingRefused(error.description)
                }
                planned = RequestPlanner.advance(
                    .signCertificate(request),
                    after: outcome,
                    chargePointID: "CP-PLAN",
                    now: now,
                    configuration: configuration
                )
            }
            guard case .decided(let result) = planned else {
                return PlannedResult(answer: .error(.internalError, description: "the plan was not decided"))
            }
            return result
        }
        func status(_ result: PlannedResult) -> String {
            guard case .result(let payload, false) = result.answer else { return "not a result" }
            return String(decoding: payload.encoded(), as: UTF8.self)
        }
        let signed = plan(try Self.csr("CP-PLAN"), try ca.authority())
        #expect(status(signed) == #"{"status":"Accepted"}"#)
        #expect(signed.refusalReason == nil)
        guard case .certificateSigned(let call)? = signed.followUp, case .rows(let rows) = signed.rows else {
            throw TestFailure("no CertificateSigned follows")
        }
        #expect(rows.map(\.series.eventType) == ["SignCertificate"])
        let chain = try Self.certificates(call.certificateChain)
        #expect(chain.last == ca.certificate)
        let issued = Date(timeIntervalSince1970: 1_780_000_000)
        #expect(abs(chain[0].notValidBefore.timeIntervalSince(issued - 300)) < 1)

        let unconfigured = plan(try Self.csr("CP-PLAN"), nil)
        #expect(status(unconfigured) == #"{"status":"Rejected"}"#)
        #expect(unconfigured.followUp == nil)
        #expect(unconfigured.refusalReason?.contains("OCPP_CHARGER_CA_CERT_FILE") == true)
        let wrongName = plan(try Self.csr("CP-X"), try ca.authority())
        #expect(status(wrongName) == #"{"status":"Rejected"}"#)
        #expect(wrongName.followUp == nil)
        #expect(wrongName.refusalReason?.contains("common name") == true)
    }

    // MARK: - Over the WebSocket

    @Test("SignCertificate is answered Accepted, then CertificateSigned brings a chain to the CA; its answer is stored")
    func signCertificateEndToEnd() async throws {
        let ca = try TestCA()
        let server = try await IngestTestServer.start(
            IngestConfiguration(chargerCertificateAuthority: try ca.authority())
        )
        let charger = try await server.connect("CP-CERT")
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        let answer = try await charger.call("s1", "SignCertificate", try Self.json("csr", try Self.csr("CP-CERT")))
        #expect(answer[0] as? Int == 3)
        #expect(try object(answer[2])["status"] as? String == "Accepted")

        let call = try parse(try await charger.nextText())
        #expect(call[0] as? Int == 2)
        #expect(call[2] as? String == "CertificateSigned")
        let chainPEM = try #require(try object(call[3])["certificateChain"] as? String)
        let chain = try Self.certificates(chainPEM)
        #expect(chain.count == 2)
        #expect(ChargerCertificateAuthority.commonNames(of: chain[0].subject) == ["CP-CERT"])
        #expect(await Self.verifies(chain, root: ca.certificate))
        try await charger.send(#"[3,"\#(call[1] as! String)",{"status":"Accepted"}]"#)

        try await server.eventually("the CertificateSigned answer is stored") {
            try server.rows("CP-CERT", kinds: [.event]).contains { $0.series.eventType == "CertificateSigned" }
        }
        let rows = try server.rows("CP-CERT", kinds: [.event])
        #expect(rows.first { $0.series.eventType == "CertificateSigned" }?.value == .payload(#"{"status":"Accepted"}"#))
        #expect(rows.contains { $0.series.eventType == "SignCertificate" })

        // A charger that refuses the chain: its answer is stored too.
        _ = try await charger.call("s2", "SignCertificate", try Self.json("csr", try Self.csr("CP-CERT")))
        let second = try parse(try await charger.nextText())
        try await charger.send(#"[3,"\#(second[1] as! String)",{"status":"Rejected"}]"#)
        try await server.eventually("the rejection is stored") {
            try server.rows("CP-CERT", kinds: [.event]).contains { $0.value == .payload(#"{"status":"Rejected"}"#) }
        }
        await charger.close()
        await server.stop()
    }

    @Test("A CSR the CA does not sign, or no CA at all: Rejected, stored, and no CertificateSigned")
    func rejectedOverWebSocket() async throws {
        let ca = try TestCA()
        for configured in [true, false] {
            let configuration = IngestConfiguration(chargerCertificateAuthority: configured ? try ca.authority() : nil)
            let server = try await IngestTestServer.start(configuration)
            let charger = try await server.connect("CP-REJ")
            var csrs = [
                try Self.csr("CP-OTHER"), try Self.forgedCSR("CP-REJ"), "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
            ]
            if !configured { csrs = [try Self.csr("CP-REJ")] }
            for (index, csr) in csrs.enumerated() {
                let answer = try await charger.call("s\(index)", "SignCertificate", try Self.json("csr", csr))
                #expect(try object(answer[2])["status"] as? String == "Rejected", "CSR \(index), CA \(configured)")
                // A CertificateSigned would have been written right after the answer, before this one's.
                let heartbeat = try await charger.call("h\(index)", "Heartbeat", "{}")
                #expect(heartbeat[0] as? Int == 3)
                #expect(heartbeat[1] as? String == "h\(index)")
            }
            let rows = try server.rows("CP-REJ", kinds: [.event])
            #expect(rows.filter { $0.series.eventType == "SignCertificate" }.count >= 1)
            #expect(!rows.contains { $0.series.eventType == "CertificateSigned" })
            await charger.close()
            await server.stop()
        }
    }

    @Test("A relayed SignCertificate is Accepted only when CertificateSigned can go over the charger's WebSocket")
    func relayed() async throws {
        let ca = try TestCA()
        let server = try await IngestTestServer.start(
            IngestConfiguration(chargerCertificateAuthority: try ca.authority())
        )
        let id = try ChargePointID("CP-RELAY")
        let request = ChargePointRequest.signCertificate(SignCertificateRequest(csr: try Self.csr("CP-RELAY")))
        let alone = try await server.ingest.relay(request, from: id)
        #expect(String(decoding: alone.encoded(), as: UTF8.self) == #"{"status":"Rejected"}"#)

        let charger = try await server.connect("CP-RELAY")
        _ = try await charger.call("h", "Heartbeat", "{}")
        let connected = try await server.ingest.relay(request, from: id)
        #expect(String(decoding: connected.encoded(), as: UTF8.self) == #"{"status":"Accepted"}"#)
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "CertificateSigned")
        let chain = try Self.certificates(try #require(try object(call[3])["certificateChain"] as? String))
        #expect(await Self.verifies(chain, root: ca.certificate))
        try await charger.send(#"[3,"\#(call[1] as! String)",{"status":"Accepted"}]"#)
        try await server.eventually("the CertificateSigned answer is stored") {
            try server.rows("CP-RELAY", kinds: [.event]).contains { $0.series.eventType == "CertificateSigned" }
        }
        await charger.close()
        await server.stop()
    }

    // MARK: - Command endpoints

    @Test("The security commands reach the charger in camelCase and answer its confirmation in snake_case")
    func commands() async throws {
        let ca = try TestCA()
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-SEC")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let install = String(
            decoding: try JSONSerialization.data(withJSONObject: [
                "certificate_type": "CentralSystemRootCertificate", "certificate": ca.certificatePEM,
            ]),
            as: UTF8.self
        )
        let firmware = String(
            decoding: try JSONSerialization.data(withJSONObject: [
                "request_id": 8,
                "firmware": [
                    "location": "https://fw.example/f.bin", "retrieve_date_time": "2026-01-01T00:00:00Z",
                    "signing_certificate": ca.certificatePEM, "signature": "c2lnbmF0dXJl",
                ] as [String: Any],
            ]),
            as: UTF8.self
        )
        let hash = #"{"hash_algorithm":"SHA256","issuer_name_hash":"aa","issuer_key_hash":"bb","serial_number":"01"}"#
        let cases:
            [(path: String, body: String, action: String, sent: (String, String), reply: String, answer: String)] = [
                (
                    "install_certificate", install, "InstallCertificate",
                    ("certificateType", "CentralSystemRootCertificate"), #"{"status":"Accepted"}"#,
                    #"{"status":"Accepted"}"#
                ),
                (
                    "delete_certificate", #"{"certificate_hash_data":\#(hash)}"#, "DeleteCertificate",
                    ("certificateHashData", "issuerNameHash"), #"{"status":"NotFound"}"#, #"{"status":"NotFound"}"#
                ),
                (
                    "get_installed_certificate_ids", #"{"certificate_type":"ManufacturerRootCertificate"}"#,
                    "GetInstalledCertificateIds", ("certificateType", "ManufacturerRootCertificate"),
                    #"{"status":"Accepted","certificateHashData":[{"hashAlgorithm":"SHA256","issuerNameHash":"aa","issuerKeyHash":"bb","serialNumber":"01"}]}"#,
                    #"{"certificate_hash_data":[{"hash_algorithm":"SHA256","issuer_name_hash":"aa","issuer_key_hash":"bb","serial_number":"01"}],"status":"Accepted"}"#
                ),
                (
                    "extended_trigger_message", #"{"requested_message":"SignChargePointCertificate"}"#,
                    "ExtendedTriggerMessage", ("requestedMessage", "SignChargePointCertificate"),
                    #"{"status":"Accepted"}"#, #"{"status":"Accepted"}"#
                ),
                (
                    "get_log",
                    #"{"log":{"remote_location":"ftp://logs.example/"},"log_type":"SecurityLog","request_id":7}"#,
                    "GetLog", ("logType", "SecurityLog"), #"{"status":"Accepted","filename":"security.log"}"#,
                    #"{"status":"Accepted","filename":"security.log"}"#
                ),
                (
                    "signed_update_firmware", firmware, "SignedUpdateFirmware", ("firmware", "signingCertificate"),
                    #"{"status":"Accepted"}"#, #"{"status":"Accepted"}"#
                ),
            ]
        for command in cases {
            let pending = Task {
                try await HTTP.http(server.port, "POST", "/charge_points/CP-SEC/\(command.path)", body: command.body)
            }
            let call = try parse(try await charger.nextText())
            #expect(call[2] as? String == command.action)
            let payload = try object(call[3])
            let (key, expected) = command.sent
            if let text = payload[key] as? String {
                #expect(text == expected, "\(command.path)")
            } else {
                #expect(try object(payload[key] as Any)[expected] != nil, "\(command.path)")
            }
            try await charger.send(#"[3,"\#(call[1] as! String)",\#(command.reply)]"#)
            let response = try await pending.value
            #expect(response.status == 200, "\(command.path): \(response.body)")
            #expect(
                try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? NSDictionary
                    == JSONSerialization.jsonObject(with: Data(command.answer.utf8)) as? NSDictionary,
                "\(command.path): \(response.body)"
            )
        }
        let sent = try #require(
            try JSONSerialization.jsonObject(with: Data(install.utf8)) as? [String: Any]
        )
        #expect(sent["certificate"] as? String == ca.certificatePEM)

        // Not a certificate: 422, and nothing reaches the charger.
        for certificate in ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            let body =
                try Self.json("certificate", certificate).dropLast()
                + #","certificate_type":"ManufacturerRootCertificate"}"#
            let refused = try await HTTP.http(
                server.port,
                "POST",
                "/charge_points/CP-SEC/install_certificate",
                body: String(body)
            )
            #expect(refused.status == 422, "\(refused.body)")
            #expect(refused.body.contains("certificate"))
        }
        let invalid = try await HTTP.http(
            server.port,
            "POST",
            "/charge_points/CP-SEC/extended_trigger_message",
            body: #"{"requested_message":"Nothing"}"#
        )
        #expect(invalid.status == 422)
        let pending = Task {
            try await HTTP.http(
                server.port,
                "POST",
                "/charge_points/CP-SEC/get_log",
                body: #"{"log":{"remote_location":"x"},"log_type":"DiagnosticsLog","request_id":1}"#
            )
        }
        let next = try parse(try await charger.nextText())
        #expect(next[2] as? String == "GetLog")
        try await charger.send(#"[3,"\#(next[1] as! String)",{"status":"Rejected"}]"#)
        #expect(try await pending.value.status == 200)
        let absent = try await HTTP.http(
            server.port,
            "POST",
            "/charge_points/CP-NONE/get_log",
            body: #"{"log":{"remote_location":"x"},"log_type":"DiagnosticsLog","request_id":1}"#
        )
        #expect(absent.status == 404)
        await charger.close()
        await server.stop()
    }

    // MARK: - Events endpoint

    @Test("The events endpoint pages a charger's stored events by time range, action and cursor")
    func events() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(dataTransferVendorIDs: ["com.acme"]))
        let charger = try await server.connect("CP-EV")
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        _ = try await charger.call("d", "DataTransfer", #"{"vendorId":"com.acme","messageId":"live"}"#)
        let id = try #require(try await server.relational.charger(chargePointID: "CP-EV")?.id)

        let base = try #require(OCPPTimestamp(iso8601: "2026-03-01T10:00:00Z")).millisecondsSince1970
        func row(_ action: String, _ seconds: Int64, _ payload: String) -> EventRow {
            EventRow(
                series: SeriesKey(chargePointID: "CP-EV", connectorID: 0, kind: .event, eventType: action),
                timestamp: base + seconds * 1000,
                value: .payload(payload)
            )
        }
        try await server.timeSeries.append([
            row(
                "SecurityEventNotification",
                0,
                #"{"type":"FirmwareUpdated","timestamp":"2026-03-01T10:00:00Z","techInfo":"v2"}"#
            ),
            row("FirmwareStatusNotification", 1, #"{"status":"Installed"}"#),
            row(
                "ServerSecurityEvent",
                2,
                #"{"type":"InvalidChargePointCredentials","timestamp":"2026-03-01T10:00:02Z","techInfo":"wrong password"}"#
            ),
            row("DataTransfer", 3, #"{"vendorId":"com.acme","messageId":"m"}"#),
            row("LogStatusNotification", 4, #"{"status":"Uploaded","requestId":4}"#),
            row("CertificateSigned", 5, #"{"status":"Accepted"}"#),
            // Another charger's event is never listed.
            EventRow(
                series: SeriesKey(chargePointID: "CP-OTHER", connectorID: 0, kind: .event, eventType: "DataTransfer"),
                timestamp: base + 3000,
                value: .payload(#"{"vendorId":"x"}"#)
            ),
        ])

        func get(_ query: String) async throws -> (Int, [[String: Any]], String?) {
            let response = try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/events\(query)")
            let json = response.json as? [String: Any] ?? [:]
            let items = (json["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
            return (response.status, items, json["next_cursor"] as? String)
        }
        let range = "?from=2026-03-01T10:00:00Z&to=2026-03-01T10:00:10Z"
        let (status, items, cursor) = try await get(range)
        #expect(status == 200)
        #expect(cursor == nil)
        #expect(
            items.map { $0["action"] as? String } == [
                "SecurityEventNotification", "FirmwareStatusNotification", "ServerSecurityEvent", "DataTransfer",
                "LogStatusNotification", "CertificateSigned",
            ]
        )
        #expect(items.first?["timestamp"] as? String == "2026-03-01T10:00:00.000Z")
        // Payloads are JSON objects in snake_case, as the rest of the API.
        let security = try object(items[0]["payload"] as Any)
        #expect(security["tech_info"] as? String == "v2")
        #expect(security["type"] as? String == "FirmwareUpdated")
        #expect(try object(items[2]["payload"] as Any)["tech_info"] as? String == "wrong password")
        #expect(try object(items[3]["payload"] as Any)["vendor_id"] as? String == "com.acme")
        #expect(try object(items[4]["payload"] as Any)["request_id"] as? Int == 4)
        #expect(try object(items[5]["payload"] as Any)["status"] as? String == "Accepted")

        // The range: from inclusive, to exclusive.
        let (_, narrow, _) = try await get("?from=2026-03-01T10:00:01Z&to=2026-03-01T10:00:03Z")
        #expect(narrow.map { $0["action"] as? String } == ["FirmwareStatusNotification", "ServerSecurityEvent"])

        // The action filter, repeatable.
        let (_, filtered, _) = try await get(range + "&action=DataTransfer&action=ServerSecurityEvent")
        #expect(filtered.map { $0["action"] as? String } == ["ServerSecurityEvent", "DataTransfer"])

        // Without a range: the live DataTransfer too.
        let (_, all, _) = try await get("?action=DataTransfer")
        #expect(all.count == 2)
        #expect(all.contains { (try? object($0["payload"] as Any))?["message_id"] as? String == "live" })

        // Cursor paging.
        var pages: [[String?]] = []
        var next: String? = nil
        repeat {
            let cursorParameter = next.map { "&cursor=\($0)" } ?? ""
            let (pageStatus, page, pageCursor) = try await get(range + "&limit=4" + cursorParameter)
            #expect(pageStatus == 200)
            pages.append(page.map { $0["action"] as? String })
            next = pageCursor
        } while next != nil && pages.count < 5
        #expect(pages.map(\.count) == [4, 2])
        #expect(pages.flatMap { $0 } == items.map { $0["action"] as? String })

        // The names the server stores its own events under are filterable.
        for action in [IngestServices.serverSecurityEventAction, IngestServices.certificateSignedEvent] {
            #expect(ChargerEvents.actions.contains { $0.name == action })
        }

        // Refusals.
        #expect(try await HTTP.http(server.port, "GET", "/db/chargers/999999/events").status == 404)
        // A range whose end is not after its start is empty (as the other history endpoints answer it).
        for empty in [
            "?from=2026-03-01T10:00:10Z&to=2026-03-01T10:00:00Z", "?from=2026-03-01T10:00:00Z&to=2026-03-01T10:00:00Z",
        ] {
            let (status, items, next) = try await get(empty)
            #expect(status == 200, "\(empty)")
            #expect(items.isEmpty && next == nil, "\(empty)")
        }
        for bad in ["?from=yesterday", "?action=MeterValues", "?limit=0", "?cursor=x", "?connector_id=1"] {
            let (badStatus, _, _) = try await get(bad)
            #expect(badStatus == 422, "\(bad)")
        }
        let invalidID = try await HTTP.http(server.port, "GET", "/db/chargers/abc/events")
        #expect(invalidID.status == 422)
        await charger.close()
        await server.stop()
    }
}
