import Foundation
import MetricsTestKit
import NIOCore
import Relational
import SwiftASN1
import TestSupport
import Testing
import TimeSeries

@testable import API
@testable import Ingest

/// Charger authentication over real sockets: Basic credentials on `ws://` and `wss://`,
/// TLS required by profile 2, client certificates by profile 3, and the TLS certificate
/// reloaded while connections stay up. The CAs and certificates are made inside the test.
@Suite("TLS and charger authentication", .serialized)
struct TLSTests {
    static let key = try! AuthorizationKey(hex: "00112233445566778899AABBCCDDEEFF00112233")
    static let newKey = try! AuthorizationKey(hex: "FFEEDDCCBBAA99887766554433221100")
    static let boot = #"{"chargePointVendor":"V","chargePointModel":"M"}"#

    /// The test's PKI: a server CA and the server certificate, the charger CA (the server's
    /// client CA) with chargers' certificates, and a CA the server does not trust.
    struct PKI {
        let directory: URL
        let serverCA: String
        let server: (certificate: String, key: String)
        let chargerCA: String
        let chargerCertificate: (certificate: String, key: String)
        let otherChargerCertificate: (certificate: String, key: String)
        let expiredCertificate: (certificate: String, key: String)
        let foreignCertificate: (certificate: String, key: String)
        let secondServerCA: String
        let secondServer: (certificate: String, key: String)

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let serverAuthority = try TestCertificateAuthority(name: "Test Server CA")
            serverCA = try serverAuthority.write(to: directory, as: "server-ca")
            server = try serverAuthority.issue(commonName: "localhost", server: true).write(to: directory, as: "server")
            let chargerAuthority = try TestCertificateAuthority(name: "Test Charger CA")
            chargerCA = try chargerAuthority.write(to: directory, as: "charger-ca")
            chargerCertificate = try chargerAuthority.issue(commonName: "CP-3", server: false)
                .write(to: directory, as: "cp-3")
            otherChargerCertificate = try chargerAuthority.issue(commonName: "CP-OTHER", server: false)
                .write(to: directory, as: "cp-other")
            expiredCertificate = try chargerAuthority.issue(
                commonName: "CP-3",
                server: false,
                notValidBefore: Date() - 7200,
                notValidAfter: Date() - 3600
            ).write(to: directory, as: "cp-3-expired")
            let foreignAuthority = try TestCertificateAuthority(name: "Foreign CA")
            foreignCertificate = try foreignAuthority.issue(commonName: "CP-3", server: false)
                .write(to: directory, as: "cp-3-foreign")
            let secondAuthority = try TestCertificateAuthority(name: "Second Server CA")
            secondServerCA = try secondAuthority.write(to: directory, as: "second-server-ca")
            secondServer = try secondAuthority.issue(commonName: "localhost", server: true)
                .write(to: directory, as: "second-server")
        }

        /// The server's files: copies, so that a test can replace them and reload.
        func serverFiles() throws -> TestTLSFiles {
            let certificate = directory.appendingPathComponent("live.crt.pem")
            let key = directory.appendingPathComponent("live.key.pem")
            try? FileManager.default.removeItem(at: certificate)
            try? FileManager.default.removeItem(at: key)
            try FileManager.default.copyItem(atPath: server.certificate, toPath: certificate.path)
            try FileManager.default.copyItem(atPath: server.key, toPath: key.path)
            return TestTLSFiles(certificate: certificate.path, key: key.path, clientCA: chargerCA)
        }

        func client(_ certificate: (certificate: String, key: String)? = nil) -> SecureChargePoint.TLS {
            SecureChargePoint.TLS(serverCA: serverCA, clientCertificate: certificate)
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// A server with TLS and a client CA, and the PKI it uses.
    static func start(defaultSecurityProfile: Int = 0) async throws -> (IngestTestServer, PKI) {
        let pki = try PKI()
        let server = try await IngestTestServer.start(
            defaultSecurityProfile: defaultSecurityProfile,
            tls: try pki.serverFiles()
        )
        return (server, pki)
    }

    /// Creates charger `id` with `profile` and, unless told otherwise, the test key.
    static func charger(
        _ server: IngestTestServer,
        _ id: String,
        profile: Int,
        key: AuthorizationKey? = key
    ) async throws {
        _ = try await server.relational.create(
            Charger.self,
            Charger.Fields(chargePointID: id, securityProfile: profile)
        )
        if let key {
            try await server.relational.setAuthorizationKey(
                AuthorizationKeyHash(key: key),
                chargePointID: id,
                pending: false
            )
        }
    }

    /// The security events the server stored for `id`: their `type`s, oldest first.
    static func securityEvents(_ server: IngestTestServer, _ id: String) throws -> [String] {
        try server.rows(id, kinds: [.event])
            .filter { $0.series.eventType == IngestServices.serverSecurityEventAction }
            .compactMap { row -> String? in
                guard case .payload(let json) = row.value,
                    let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
                else { return nil }
                #expect(object["timestamp"] is String)
                return object["type"] as? String
            }
    }

    static func expectRefused(
        _ outcome: SecureChargePoint.Outcome,
        _ status: Int,
        challenge: Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard case .refused(let got, let headers, let body) = outcome else {
            Issue.record("expected a refusal with \(status), the upgrade was accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(got == status, "\(body)", sourceLocation: sourceLocation)
        #expect(
            headers["www-authenticate"] == (challenge ? #"Basic realm="OCPP", charset="UTF-8""# : nil),
            sourceLocation: sourceLocation
        )
    }

    @Test("Profile 1: no credentials, a wrong password or another charger's are refused with 401; the key works")
    func profileOne() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-1", profile: 1)
        try await Self.charger(server, "CP-2", profile: 1, key: Self.newKey)
        let port = server.port

        Self.expectRefused(try await SecureChargePoint.connect(port: port, id: "CP-1"), 401, challenge: true)
        let wrong = SecureChargePoint.basic("CP-1", Self.newKey.bytes)
        Self.expectRefused(
            try await SecureChargePoint.connect(port: port, id: "CP-1", authorization: wrong),
            401,
            challenge: true
        )
        // CP-2's own credentials do not open CP-1.
        let otherCharger = SecureChargePoint.basic("CP-2", Self.newKey.bytes)
        Self.expectRefused(
            try await SecureChargePoint.connect(port: port, id: "CP-1", authorization: otherCharger),
            401,
            challenge: true
        )
        #expect(server.ingest.connection(try ChargePointID("CP-1")) == nil)

        let charger = try await SecureChargePoint.upgraded(
            port: port,
            id: "CP-1",
            authorization: SecureChargePoint.basic("CP-1", Self.key.bytes)
        )
        let answer = try await charger.call("b1", "BootNotification", Self.boot)
        #expect(try object(answer[2])["status"] as? String == "Accepted")
        // The key's hex text works too, and over TLS.
        let overTLS = try await SecureChargePoint.upgraded(
            port: try #require(server.tlsPort),
            id: "CP-2",
            tls: pki.client(),
            authorization: SecureChargePoint.basic("CP-2", Array(Self.newKey.hex.utf8))
        )
        #expect(try await overTLS.call("h", "Heartbeat", "{}")[0] as? Int == 3)
        await overTLS.close()
        await charger.close()

        try await server.eventually("the refusals are stored as security events") {
            try Self.securityEvents(server, "CP-1").count == 3
        }
        #expect(
            try Self.securityEvents(server, "CP-1") == Array(repeating: "InvalidChargePointCredentials", count: 3)
        )
        await server.stop()
    }

    @Test("A refused attempt leaves the connected charger of that id connected and working")
    func refusedAttemptKeepsConnection() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-1", profile: 1)
        let right = SecureChargePoint.basic("CP-1", Self.key.bytes)
        let charger = try await SecureChargePoint.upgraded(port: server.port, id: "CP-1", authorization: right)
        #expect(try await charger.call("b1", "BootNotification", Self.boot)[0] as? Int == 3)
        let since = try #require(server.ingest.connection(try ChargePointID("CP-1"))).connectedSince

        Self.expectRefused(try await SecureChargePoint.connect(port: server.port, id: "CP-1"), 401, challenge: true)
        Self.expectRefused(
            try await SecureChargePoint.connect(
                port: server.port,
                id: "CP-1",
                authorization: SecureChargePoint.basic("CP-1", Self.newKey.bytes)
            ),
            401,
            challenge: true
        )
        #expect(try await charger.call("h1", "Heartbeat", "{}")[0] as? Int == 3)
        #expect(server.ingest.connection(try ChargePointID("CP-1"))?.connectedSince == since)

        // An authenticated connection does replace it.
        let replacement = try await SecureChargePoint.upgraded(port: server.port, id: "CP-1", authorization: right)
        #expect(try await charger.next() == .close(code: 1008))
        #expect(try await replacement.call("h2", "Heartbeat", "{}")[0] as? Int == 3)
        await replacement.close()
        await server.stop()
    }

    @Test("A charger that authenticates with its pending key has it promoted; the old key stops working")
    func pendingKeyPromoted() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-1", profile: 1)
        try await server.relational.setAuthorizationKey(
            AuthorizationKeyHash(key: Self.newKey),
            chargePointID: "CP-1",
            pending: true
        )
        let old = try await SecureChargePoint.upgraded(
            port: server.port,
            id: "CP-1",
            authorization: SecureChargePoint.basic("CP-1", Self.key.bytes)
        )
        await old.close()
        let new = try await SecureChargePoint.upgraded(
            port: server.port,
            id: "CP-1",
            authorization: SecureChargePoint.basic("CP-1", Self.newKey.bytes)
        )
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-1"))
        #expect(credentials.pending == nil)
        #expect(credentials.current?.matches(Self.newKey) == true)
        await new.close()
        Self.expectRefused(
            try await SecureChargePoint.connect(
                port: server.port,
                id: "CP-1",
                authorization: SecureChargePoint.basic("CP-1", Self.key.bytes)
            ),
            401,
            challenge: true
        )
        await server.stop()
    }

    @Test("Profile 2: accepted over TLS with Basic credentials; plain ws is refused with 403")
    func profileTwo() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-2", profile: 2)
        let right = SecureChargePoint.basic("CP-2", Self.key.bytes)
        Self.expectRefused(
            try await SecureChargePoint.connect(port: server.port, id: "CP-2", authorization: right),
            403,
            challenge: false
        )
        let tlsPort = try #require(server.tlsPort)
        Self.expectRefused(
            try await SecureChargePoint.connect(port: tlsPort, id: "CP-2", tls: pki.client()),
            401,
            challenge: true
        )
        let charger = try await SecureChargePoint.upgraded(
            port: tlsPort,
            id: "CP-2",
            tls: pki.client(),
            authorization: right
        )
        #expect(
            try object(try await charger.call("b", "BootNotification", Self.boot)[2])["status"] as? String == "Accepted"
        )
        await charger.close()
        try await server.eventually("both refusals are stored") { try Self.securityEvents(server, "CP-2").count == 2 }
        #expect(try Self.securityEvents(server, "CP-2") == ["TLSRequired", "InvalidChargePointCredentials"])
        await server.stop()
    }

    @Test("Profile 3: its own certificate is accepted; none, another charger's, another CA's or an expired one is not")
    func profileThree() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-3", profile: 3)
        let tlsPort = try #require(server.tlsPort)
        let right = SecureChargePoint.basic("CP-3", Self.key.bytes)

        let charger = try await SecureChargePoint.upgraded(
            port: tlsPort,
            id: "CP-3",
            tls: pki.client(pki.chargerCertificate)
        )
        #expect(try await charger.call("h", "Heartbeat", "{}")[0] as? Int == 3)

        // Basic credentials do not stand in for the certificate, over TLS or plain.
        Self.expectRefused(
            try await SecureChargePoint.connect(port: tlsPort, id: "CP-3", tls: pki.client(), authorization: right),
            403,
            challenge: false
        )
        Self.expectRefused(
            try await SecureChargePoint.connect(port: server.port, id: "CP-3", authorization: right),
            403,
            challenge: false
        )
        Self.expectRefused(
            try await SecureChargePoint.connect(
                port: tlsPort,
                id: "CP-3",
                tls: pki.client(pki.otherChargerCertificate)
            ),
            403,
            challenge: false
        )
        // A certificate the client CA did not issue, or an expired one, fails the handshake.
        for certificate in [pki.foreignCertificate, pki.expiredCertificate] {
            await #expect(throws: (any Error).self) {
                let outcome = try await SecureChargePoint.connect(
                    port: tlsPort,
                    id: "CP-3",
                    tls: pki.client(certificate)
                )
                if case .upgraded(let intruder) = outcome { await intruder.close() }
            }
        }
        // None of it disturbed the connected charger.
        #expect(try await charger.call("h2", "Heartbeat", "{}")[0] as? Int == 3)
        await charger.close()
        try await server.eventually("the refusals are stored") { try Self.securityEvents(server, "CP-3").count == 3 }
        #expect(
            try Self.securityEvents(server, "CP-3") == [
                "InvalidChargePointCertificate", "TLSRequired", "InvalidChargePointCertificate",
            ]
        )
        await server.stop()
    }

    @Test("A charger unknown to the database takes the default profile, and no event is stored for it")
    func unknownCharger() async throws {
        let (server, pki) = try await Self.start(defaultSecurityProfile: 2)
        defer { pki.remove() }
        Self.expectRefused(try await SecureChargePoint.connect(port: server.port, id: "CP-NEW"), 403, challenge: false)
        Self.expectRefused(
            try await SecureChargePoint.connect(port: try #require(server.tlsPort), id: "CP-NEW", tls: pki.client()),
            401,
            challenge: true
        )
        // An unknown charger with a valid certificate of its own id is accepted (profile 3 proof).
        let charger = try await SecureChargePoint.upgraded(
            port: try #require(server.tlsPort),
            id: "CP-3",
            tls: pki.client(pki.chargerCertificate)
        )
        #expect(try await charger.call("h", "Heartbeat", "{}")[0] as? Int == 3)
        await charger.close()
        #expect(try Self.securityEvents(server, "CP-NEW").isEmpty)
        await server.stop()
    }

    @Test("A database that does not answer the lookup refuses the charger with 503")
    func databaseDown() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        await server.relational.shutdown()
        let outcome = try await SecureChargePoint.connect(port: server.port, id: "CP-1")
        Self.expectRefused(outcome, 503, challenge: false)
        await server.stop()
    }

    @Test("The REST API answers over HTTPS on the TLS port")
    func https() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        let outcome = try await SecureChargePoint.connect(
            port: try #require(server.tlsPort),
            id: "",
            tls: pki.client(),
            path: "/health"
        )
        guard case .refused(let status, _, let body) = outcome else {
            Issue.record("GET /health did not get an HTTP answer")
            return
        }
        #expect(status == 200)
        #expect(body == #"{"status":"ok"}"#)
        await server.stop()
    }

    @Test("Reloading the TLS files serves the new certificate to new connections; open ones keep working")
    func reload() async throws {
        let (server, pki) = try await Self.start()
        defer { pki.remove() }
        try await Self.charger(server, "CP-2", profile: 2)
        let tlsPort = try #require(server.tlsPort)
        let listener = try #require(server.tlsListener)
        let right = SecureChargePoint.basic("CP-2", Self.key.bytes)
        let before = try await SecureChargePoint.upgraded(
            port: tlsPort,
            id: "CP-2",
            tls: pki.client(),
            authorization: right
        )
        #expect(try await before.call("h1", "Heartbeat", "{}")[0] as? Int == 3)

        // A broken key file: the reload fails and the current certificate stays.
        try "not a key".write(toFile: listener.settings.keyFile, atomically: true, encoding: .utf8)
        #expect(throws: TLSSettingsError.self) { try listener.reload() }
        let stillOld = try await SecureChargePoint.upgraded(
            port: tlsPort,
            id: "CP-OLD",
            tls: pki.client(),
            authorization: nil
        )
        await stillOld.close()

        // The new certificate (of another CA), as a deployment would renew it, then SIGHUP.
        try FileManager.default.removeItem(atPath: listener.settings.certificateFile)
        try FileManager.default.removeItem(atPath: listener.settings.keyFile)
        try FileManager.default.copyItem(
            atPath: pki.secondServer.certificate,
            toPath: listener.settings.certificateFile
        )
        try FileManager.default.copyItem(atPath: pki.secondServer.key, toPath: listener.settings.keyFile)
        try listener.reload()

        let renewed = SecureChargePoint.TLS(serverCA: pki.secondServerCA, clientCertificate: nil)
        let after = try await SecureChargePoint.upgraded(port: tlsPort, id: "CP-NEW", tls: renewed)
        #expect(try await after.call("h", "Heartbeat", "{}")[0] as? Int == 3)
        await after.close()
        // A client that trusts only the old CA no longer gets through the handshake.
        await #expect(throws: (any Error).self) {
            _ = try await SecureChargePoint.connect(port: tlsPort, id: "CP-X", tls: pki.client())
        }
        // The connection made before the reload is untouched.
        #expect(try await before.call("h2", "Heartbeat", "{}")[0] as? Int == 3)
        await before.close()
        await server.stop()
    }

    @Test("TLS settings with unreadable or mismatched files fail with the file named")
    func badSettings() throws {
        let pki = try PKI()
        defer { pki.remove() }
        let missing = TLSSettings(port: 0, certificateFile: "/nonexistent/cert.pem", keyFile: pki.server.key)
        #expect(throws: TLSSettingsError.self) { _ = try missing.makeContext() }
        do {
            _ = try missing.makeContext()
        } catch {
            #expect(error.description.contains("TLS_CERT_FILE '/nonexistent/cert.pem'"))
        }
        let mismatched = TLSSettings(
            port: 0,
            certificateFile: pki.server.certificate,
            keyFile: pki.secondServer.key
        )
        #expect(throws: TLSSettingsError.self) { _ = try mismatched.makeContext() }
        let badCA = TLSSettings(
            port: 0,
            certificateFile: pki.server.certificate,
            keyFile: pki.server.key,
            clientCAFile: pki.server.key
        )
        #expect(throws: TLSSettingsError.self) { _ = try badCA.makeContext() }
        let good = TLSSettings(
            port: 0,
            certificateFile: pki.server.certificate,
            keyFile: pki.server.key,
            clientCAFile: pki.chargerCA
        )
        _ = try good.makeContext()
    }

    @Test("The client certificate's common name is its subject's only CN")
    func commonName() throws {
        let authority = try TestCertificateAuthority(name: "CN Test CA")
        let issued = try authority.issue(commonName: "CP-9", server: false)
        var serializer = DER.Serializer()
        try serializer.serialize(issued.certificate)
        let der = serializer.serializedBytes
        #expect(ChargerTransport.commonName(derEncoded: der) == "CP-9")
        #expect(ChargerTransport.commonName(derEncoded: [0x30, 0x00]) == nil)
    }

    @Test("Authentication failures are counted by reason")
    func metric() throws {
        let factory = TestMetrics()
        let metrics = IngestMetrics(factory: factory)
        metrics.authenticationFailed(reason: "wrong_password")
        metrics.authenticationFailed(reason: "wrong_password")
        metrics.authenticationFailed(reason: "tls_required")
        #expect(
            try factory.expectCounter("ocpp_charger_auth_failures_total", [("reason", "wrong_password")]).totalValue
                == 2
        )
        #expect(
            try factory.expectCounter("ocpp_charger_auth_failures_total", [("reason", "tls_required")]).totalValue == 1
        )
    }
}
