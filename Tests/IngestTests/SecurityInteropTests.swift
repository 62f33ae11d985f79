import API
import Foundation
import Protocol
import TestSupport
import Testing

@testable import Ingest

/// Charger security against an independent peer: a charge point on the PyPI `ocpp` package over
/// `websockets` (Basic authentication, its TLS client, client certificates; `cryptography` for
/// its CSR), with keys and certificates made by the `openssl` command for each test.
@Suite("Charger security interop with the PyPI ocpp package and an openssl CA", .serialized)
struct SecurityInteropTests {
    static let key1 = "00112233445566778899AABBCCDDEEFF00112233"
    static let key2 = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"
    static let otherKey = "F0E1D2C3B4A5968778695A4B3C2D1E0F10213243"
    static let wrongKey = "DEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF"
    /// The start of the `WWW-Authenticate` challenge of a 401 (parameters may follow).
    static let challenge = #"Basic realm="OCPP""#

    // MARK: Profile 1

    @Test(
        "Profile 1: the key opens; none, a wrong one, another charger's, another user name: 401",
        arguments: TestBackend.allCases
    )
    func profile1(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let url = Self.plainURL(server)
        _ = try await Self.register(server, "SEC-P1", profile: 1, key: Self.key1)
        _ = try await Self.register(server, "SEC-P1-OTHER", profile: 1, key: Self.otherKey)

        let accepted = try await PythonCharger.attempt([url, "SEC-P1", "--password-hex", Self.key1])
        Self.expectConnected(accepted, "the charger's own key")
        // Some firmwares send the key's hex text as the password; websockets puts it in the URI.
        let text = try await PythonCharger.attempt([url, "SEC-P1", "--password-text", Self.key1, "--userinfo"])
        Self.expectConnected(text, "the key's hex text")

        let refusals: [(String, [String])] = [
            ("no credentials", []),
            ("a wrong password", ["--password-hex", Self.wrongKey]),
            ("another charger's password", ["--password-hex", Self.otherKey]),
            (
                "another charger's user name with the right key",
                ["--user", "SEC-P1-OTHER", "--password-hex", Self.key1]
            ),
            ("another charger's user name and password", ["--user", "SEC-P1-OTHER", "--password-hex", Self.otherKey]),
            ("the hex text of another charger's key", ["--password-text", Self.otherKey, "--userinfo"]),
        ]
        for (what, arguments) in refusals {
            let refused = try await PythonCharger.attempt([url, "SEC-P1"] + arguments)
            Self.expectRefused(refused, status: 401, what)
            Self.expectChallenge(refused, what)
        }
        await server.stop()
    }

    // MARK: Profile 2

    @Test("Profile 2: the key over wss (TLS 1.2+, whitepaper suites) opens; plain ws, old TLS, no key: refused")
    func profile2() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki)
        let secure = Self.secureURL(tlsPort)
        _ = try await Self.register(server, "SEC-P2", profile: 2, key: Self.key1)
        _ = try await Self.register(server, "SEC-P2-LOW", profile: 1, key: Self.otherKey)
        let trust = ["--ca", pki.caCertificate]

        let accepted = try await PythonCharger.attempt([secure, "SEC-P2", "--password-hex", Self.key1] + trust)
        Self.expectConnected(accepted, "profile 2 over wss")
        #expect(accepted["tls_version"] as? String == "TLSv1.3")
        // A higher transport than the charger's profile is fine.
        let higher = try await PythonCharger.attempt([secure, "SEC-P2-LOW", "--password-hex", Self.otherKey] + trust)
        Self.expectConnected(higher, "a profile 1 charger over wss")

        // TLS 1.2 with the whitepaper's suites (those of an ECDSA certificate); nothing older,
        // no other suite: the server's alert ends the handshake.
        let credentials = ["SEC-P2", "--password-hex", Self.key1] + trust
        for suite in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384"] {
            let tls12 = try await PythonCharger.attempt(
                [secure] + credentials + ["--tls-version", "1.2", "--ciphers", suite]
            )
            Self.expectConnected(tls12, "TLS 1.2 with \(suite)")
            #expect(tls12["tls_version"] as? String == "TLSv1.2", "\(tls12)")
        }
        for suite in ["ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA"] {
            let refused = try await PythonCharger.attempt(
                [secure] + credentials + ["--tls-version", "1.2", "--ciphers", suite]
            )
            Self.expectRefused(refused, status: nil, "TLS 1.2 with \(suite)", alert: "ALERT_HANDSHAKE_FAILURE")
        }
        let tls11 = try await PythonCharger.attempt([secure] + credentials + ["--tls-version", "1.1"])
        Self.expectRefused(tls11, status: nil, "TLS 1.1", alert: "ALERT_PROTOCOL_VERSION")

        let plain = try await PythonCharger.attempt([Self.plainURL(server), "SEC-P2", "--password-hex", Self.key1])
        Self.expectRefused(plain, status: 403, "profile 2 over plain ws with the right key")
        let anonymous = try await PythonCharger.attempt([secure, "SEC-P2"] + trust)
        Self.expectRefused(anonymous, status: 401, "profile 2 over wss without credentials")
        Self.expectChallenge(anonymous, "profile 2 over wss without credentials")
        let wrong = try await PythonCharger.attempt([secure, "SEC-P2", "--password-hex", Self.wrongKey] + trust)
        Self.expectRefused(wrong, status: 401, "profile 2 over wss with a wrong password")
        let another = try await PythonCharger.attempt([secure, "SEC-P2", "--password-hex", Self.otherKey] + trust)
        Self.expectRefused(another, status: 401, "profile 2 over wss with another charger's password")
        await server.stop()
    }

    // MARK: Profile 3

    @Test("Profile 3: a certificate with CN = id opens; another charger's, another CA's, an expired one do not")
    func profile3() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki)
        let secure = Self.secureURL(tlsPort)
        _ = try await Self.register(server, "SEC-P3", profile: 3, key: nil)
        let own = try await pki.issue("own", commonName: "SEC-P3")
        let another = try await pki.issue("another", commonName: "SEC-P3-OTHER")
        let foreign = try await pki.issue("foreign", commonName: "SEC-P3", issuer: "other-ca")
        let expired = try await pki.issue("expired", commonName: "SEC-P3", expired: true)
        let trust = ["--ca", pki.caCertificate]

        let accepted = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", own.certificate, "--key", own.key] + trust
        )
        Self.expectConnected(accepted, "profile 3 with its own certificate")

        let anotherCharger = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", another.certificate, "--key", another.key] + trust
        )
        Self.expectRefused(anotherCharger, status: 403, "another charger's certificate")
        // The TLS handshake itself fails for these: no HTTP answer at all.
        let otherCA = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", foreign.certificate, "--key", foreign.key] + trust
        )
        Self.expectRefused(otherCA, status: nil, "a certificate from another CA")
        let outdated = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", expired.certificate, "--key", expired.key] + trust
        )
        Self.expectRefused(outdated, status: nil, "an expired certificate")
        // Over TLS 1.2 the client certificate is checked within the handshake, and the
        // server's alert says why.
        let otherCA12 = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", foreign.certificate, "--key", foreign.key, "--tls-version", "1.2"] + trust
        )
        Self.expectRefused(otherCA12, status: nil, "another CA over TLS 1.2", alert: "ALERT_UNKNOWN_CA")
        let outdated12 = try await PythonCharger.attempt(
            [secure, "SEC-P3", "--cert", expired.certificate, "--key", expired.key, "--tls-version", "1.2"] + trust
        )
        Self.expectRefused(outdated12, status: nil, "expired over TLS 1.2", alert: "ALERT_CERTIFICATE_EXPIRED")

        let noCertificate = try await PythonCharger.attempt([secure, "SEC-P3"] + trust)
        Self.expectRefused(noCertificate, status: 403, "profile 3 over wss without a certificate")
        let plain = try await PythonCharger.attempt([Self.plainURL(server), "SEC-P3"])
        Self.expectRefused(plain, status: 403, "profile 3 over plain ws")
        await server.stop()
    }

    // MARK: Failed attempts

    @Test("Failed attempts at a connected charger's id leave it connected and answering the server")
    func failedAttemptsLeaveTheChargerAlone() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki)
        let plain = Self.plainURL(server)
        let secure = Self.secureURL(tlsPort)
        let trust = ["--ca", pki.caCertificate]
        let real1ID = try await Self.register(server, "SEC-REAL1", profile: 1, key: Self.key1)
        let real2ID = try await Self.register(server, "SEC-REAL2", profile: 2, key: Self.key2)
        let real3ID = try await Self.register(server, "SEC-REAL3", profile: 3, key: nil)
        _ = try await Self.register(server, "SEC-NEIGHBOUR", profile: 1, key: Self.otherKey)
        let own = try await pki.issue("own", commonName: "SEC-REAL3")
        let neighbour = try await pki.issue("neighbour", commonName: "SEC-NEIGHBOUR")
        let foreign = try await pki.issue("foreign", commonName: "SEC-REAL3", issuer: "other-ca")
        let expired = try await pki.issue("expired", commonName: "SEC-REAL3", expired: true)

        let real1 = try PythonCharger([plain, "SEC-REAL1", "--password-hex", Self.key1, "--stay"])
        let real2 = try PythonCharger([secure, "SEC-REAL2", "--password-hex", Self.key2, "--stay"] + trust)
        let real3 = try PythonCharger(
            [secure, "SEC-REAL3", "--cert", own.certificate, "--key", own.key, "--stay"] + trust
        )
        for real in [real1, real2, real3] {
            #expect(try await real.next("ready")["boot_status"] as? String == "Accepted")
        }

        let attacks: [(String, Int?, [String])] = [
            ("no credentials", 401, [plain, "SEC-REAL1"]),
            ("a wrong password", 401, [plain, "SEC-REAL1", "--password-hex", Self.wrongKey]),
            ("another charger's password", 401, [plain, "SEC-REAL1", "--password-hex", Self.otherKey]),
            (
                "another charger's credentials", 401,
                [plain, "SEC-REAL1", "--user", "SEC-NEIGHBOUR", "--password-hex", Self.otherKey]
            ),
            ("plain ws with the right key", 403, [plain, "SEC-REAL2", "--password-hex", Self.key2]),
            ("wss with a wrong password", 401, [secure, "SEC-REAL2", "--password-hex", Self.wrongKey] + trust),
            (
                "another charger's certificate", 403,
                [secure, "SEC-REAL3", "--cert", neighbour.certificate, "--key", neighbour.key] + trust
            ),
            (
                "a certificate from another CA", nil,
                [secure, "SEC-REAL3", "--cert", foreign.certificate, "--key", foreign.key] + trust
            ),
            (
                "an expired certificate", nil,
                [secure, "SEC-REAL3", "--cert", expired.certificate, "--key", expired.key] + trust
            ),
            ("no certificate", 403, [secure, "SEC-REAL3"] + trust),
        ]
        for (what, status, arguments) in attacks {
            Self.expectRefused(try await PythonCharger.attempt(arguments), status: status, what)
        }

        // The server still reaches each charger on the connection it had.
        let reset1 = try await server.ingest.call(ResetRequest(type: .soft), to: ChargePointID("SEC-REAL1"))
        let reset2 = try await server.ingest.call(ResetRequest(type: .hard), to: ChargePointID("SEC-REAL2"))
        let reset3 = try await server.ingest.call(ResetRequest(type: .soft), to: ChargePointID("SEC-REAL3"))
        #expect([reset1.status, reset2.status, reset3.status] == [.accepted, .accepted, .accepted])
        #expect(try await real1.next("reset")["type"] as? String == "Soft")
        #expect(try await real2.next("reset")["type"] as? String == "Hard")
        #expect(try await real3.next("reset")["type"] as? String == "Soft")
        for real in [real1, real2, real3] {
            let report = try await real.finish()
            let connections = report["connections"] as? [[String: Any]] ?? []
            #expect(connections.count == 1)
            // Only the charger itself closed it, at the end.
            #expect(connections.first?["closed_by"] as? String == "charger", "\(report)")
        }

        // Every refusal the server could tie to an id is a security event of that charger, over
        // REST (a failed TLS handshake names no charger).
        let expectedEvents: [(Int, [String])] = [
            (real1ID, Array(repeating: "InvalidChargePointCredentials", count: 4)),
            (real2ID, ["InvalidChargePointCredentials", "TLSRequired"]),
            (real3ID, ["InvalidChargePointCertificate", "InvalidChargePointCertificate"]),
        ]
        for (id, types) in expectedEvents {
            try await server.eventually("the security events of charger \(id) are stored") {
                try await Self.events(server, id, action: "ServerSecurityEvent").count >= types.count
            }
            let stored = try await Self.events(server, id, action: "ServerSecurityEvent")
            #expect(stored.compactMap { $0["type"] as? String }.sorted() == types, "\(stored)")
        }
        await server.stop()
    }

    // MARK: Key rotation

    @Test(
        "Key rotation: ChangeConfiguration(AuthorizationKey); both keys work until the charger uses the new one",
        arguments: TestBackend.allCases
    )
    func keyRotation(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let url = Self.plainURL(server)
        let id = try await Self.register(server, "SEC-ROT", profile: 1, key: Self.key1)
        let charger = try PythonCharger([url, "SEC-ROT", "--password-hex", Self.key1, "--stay"])
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")

        // The REST call answers once the charger has accepted the key.
        async let rotated = Self.setKey(server, id, Self.key2)
        let change = try await charger.next("change_configuration")
        #expect(change["key"] as? String == "AuthorizationKey")
        #expect((change["value"] as? String)?.uppercased() == Self.key2)
        let rotation = try await rotated
        #expect(rotation.status == 200, "\(rotation.body)")
        #expect((IntegrationEndpointTests.object(rotation)["authorization_key"] as? String)?.uppercased() == Self.key2)

        // Until the charger has authenticated with the new key, the old one still opens.
        let old = try await PythonCharger.attempt([url, "SEC-ROT", "--password-hex", Self.key1])
        Self.expectConnected(old, "the old key before the charger has used the new one")
        // That connection replaced the charger's; the charger comes back with the new key.
        charger.send("reconnect")
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")
        let refusedOld = try await PythonCharger.attempt([url, "SEC-ROT", "--password-hex", Self.key1])
        Self.expectRefused(refusedOld, status: 401, "the old key once the charger has used the new one")
        let new = try await PythonCharger.attempt([url, "SEC-ROT", "--password-hex", Self.key2])
        Self.expectConnected(new, "the new key")

        // A key the server generates: 20 random bytes, told to the charger and answered once.
        charger.send("reconnect")
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")
        async let generating = Self.setKey(server, id, nil)
        let generatedChange = try await charger.next("change_configuration")
        let generation = try await generating
        #expect(generation.status == 200, "\(generation.body)")
        let generated = try #require(IntegrationEndpointTests.object(generation)["authorization_key"] as? String)
        #expect(generated.count == 40 && generated.allSatisfy(\.isHexDigit), "\(generated)")
        #expect((generatedChange["value"] as? String)?.uppercased() == generated.uppercased())
        #expect(generatedChange["key"] as? String == "AuthorizationKey")
        charger.send("reconnect")
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")
        let refusedSecond = try await PythonCharger.attempt([url, "SEC-ROT", "--password-hex", Self.key2])
        Self.expectRefused(refusedSecond, status: 401, "the second key once the charger has used the generated one")
        let report = try await charger.finish()
        let passwords = (report["connections"] as? [[String: Any]] ?? []).map { $0["password_hex"] as? String }
        #expect(passwords == [Self.key1, Self.key2, Self.key2, generated.uppercased()])
        await server.stop()
    }

    @Test("Key rotation refused by the charger: the old key stays, the new one never opens")
    func keyRotationRejected() async throws {
        let server = try await IngestTestServer.start()
        let url = Self.plainURL(server)
        let id = try await Self.register(server, "SEC-KEEP", profile: 1, key: Self.key1)
        let charger = try PythonCharger(
            [url, "SEC-KEEP", "--password-hex", Self.key1, "--change-configuration-status", "Rejected", "--stay"]
        )
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")
        async let rotated = Self.setKey(server, id, Self.key2)
        #expect(try await charger.next("change_configuration")["answered"] as? String == "Rejected")
        let rotation = try await rotated
        #expect(rotation.status == 409, "\(rotation.body)")
        _ = try await charger.finish()

        let refused = try await PythonCharger.attempt([url, "SEC-KEEP", "--password-hex", Self.key2])
        Self.expectRefused(refused, status: 401, "a key the charger rejected")
        let kept = try await PythonCharger.attempt([url, "SEC-KEEP", "--password-hex", Self.key1])
        Self.expectConnected(kept, "the key kept")
        await server.stop()
    }

    // MARK: Certificates

    @Test(
        "SignCertificate to CertificateSigned: the chain verifies against the charger CA, CN = id, and opens profile 3"
    )
    func signCertificate() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki, signsChargerCertificates: true)
        let secure = Self.secureURL(tlsPort)
        let trust = ["--ca", pki.caCertificate]
        let id = try await Self.register(server, "SEC-SIGN", profile: 2, key: Self.key1)
        let saved = pki.directory.appendingPathComponent("charger")
        try FileManager.default.createDirectory(at: saved, withIntermediateDirectories: true)
        let charger = try PythonCharger(
            [secure, "SEC-SIGN", "--password-hex", Self.key1, "--save-dir", saved.path, "--stay"] + trust
        )
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")

        // The operator asks for a certificate; the charger sends its CSR.
        let trigger = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/charge_points/SEC-SIGN/extended_trigger_message",
            body: #"{"requested_message":"SignChargePointCertificate"}"#
        )
        #expect(trigger.status == 200, "\(trigger.body)")
        #expect(IntegrationEndpointTests.object(trigger)["status"] as? String == "Accepted")
        #expect(try await charger.next("sign_certificate")["status"] as? String == "Accepted")
        let signed = try await charger.next("certificate_signed")
        let chain = try #require(signed["certificate_chain"] as? String)

        // Checked by openssl, not by the server's own code.
        let leaf = try #require(Self.pemCertificates(chain).first)
        let leafFile = saved.appendingPathComponent("leaf.pem")
        try Data(leaf.utf8).write(to: leafFile)
        let verified = try await pki.openssl(["verify", "-CAfile", pki.caCertificate, leafFile.path])
        #expect(verified.contains("OK"), "\(verified)")
        let subject = try await pki.openssl(["x509", "-in", leafFile.path, "-noout", "-subject", "-nameopt", "RFC2253"])
        #expect(subject.contains("CN=SEC-SIGN"), "\(subject)")

        let patched = try await CommandEndpointTests.http(
            server.port,
            "PATCH",
            "/db/chargers/\(id)",
            body: #"{"security_profile":3}"#
        )
        #expect(patched.status == 200, "\(patched.body)")
        let report = try await charger.finish()
        #expect(report["sign_certificate_status"] as? String == "Accepted")
        #expect(report["leaf_common_name"] as? String == "SEC-SIGN")
        #expect(report["leaf_matches_key"] as? Bool == true)

        // The charger moves to profile 3 with the certificate it was given.
        let mutual = try await PythonCharger.attempt(
            [
                secure, "SEC-SIGN", "--cert", saved.appendingPathComponent("signed-chain.pem").path,
                "--key", saved.appendingPathComponent("signed-key.pem").path,
            ] + trust
        )
        Self.expectConnected(mutual, "profile 3 with the certificate from CertificateSigned")

        // The request and the charger's confirmation are stored, readable over REST.
        try await server.eventually("CertificateSigned's outcome is stored") {
            try await !Self.events(server, id, action: "CertificateSigned").isEmpty
        }
        let outcomes = try await Self.events(server, id, action: "CertificateSigned")
        #expect(outcomes.map { $0["status"] as? String } == ["Accepted"], "\(outcomes)")
        let requests = try await Self.events(server, id, action: "SignCertificate")
        #expect(requests.count == 1 && (requests.first?["csr"] as? String)?.contains("CERTIFICATE REQUEST") == true)
        await server.stop()
    }

    @Test("SignCertificate for another charger's name, or with no charger CA configured, is Rejected")
    func signCertificateRejected() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki, signsChargerCertificates: true)
        _ = try await Self.register(server, "SEC-SIGN2", profile: 2, key: Self.key1)
        let impostor = try PythonCharger(
            [
                Self.secureURL(tlsPort), "SEC-SIGN2", "--password-hex", Self.key1, "--ca", pki.caCertificate,
                "--csr-common-name", "SEC-OTHER", "--stay",
            ]
        )
        #expect(try await impostor.next("ready")["boot_status"] as? String == "Accepted")
        impostor.send("sign")
        #expect(try await impostor.next("sign_certificate")["status"] as? String == "Rejected")
        _ = try await impostor.finish()
        await server.stop()

        let unconfigured = try await IngestTestServer.start()
        let charger = try PythonCharger([Self.plainURL(unconfigured), "SEC-NOCA", "--stay"])
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")
        charger.send("sign")
        #expect(try await charger.next("sign_certificate")["status"] as? String == "Rejected")
        _ = try await charger.finish()
        await unconfigured.stop()
    }

    // MARK: Certificate reload

    @Test("A reloaded server certificate serves new connections; the connected charger stays")
    func reloadServerCertificate() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let (server, tlsPort) = try await Self.startSecureServer(pki)
        let secure = Self.secureURL(tlsPort)
        _ = try await Self.register(server, "SEC-RELOAD", profile: 2, key: Self.key1)
        let charger = try PythonCharger(
            [secure, "SEC-RELOAD", "--password-hex", Self.key1, "--ca", pki.caCertificate, "--stay"]
        )
        #expect(try await charger.next("ready")["boot_status"] as? String == "Accepted")

        // A certificate from the other CA replaces the files; the reload is what SIGHUP does.
        try await pki.issue("renewed", commonName: "localhost", issuer: "other-ca", extensions: "server.ext")
        for (from, to) in [("renewed.pem", "server.pem"), ("renewed.key", "server.key")] {
            let renewed = try Data(contentsOf: URL(fileURLWithPath: pki.path(from)))
            try renewed.write(to: URL(fileURLWithPath: pki.path(to)), options: .atomic)
        }
        try #require(server.tlsListener).reload()

        let reset = try await server.ingest.call(ResetRequest(type: .soft), to: ChargePointID("SEC-RELOAD"))
        #expect(reset.status == .accepted)
        #expect(try await charger.next("reset")["type"] as? String == "Soft")
        let old = try await PythonCharger.attempt(
            [secure, "SEC-RELOAD", "--password-hex", Self.key1, "--ca", pki.caCertificate]
        )
        Self.expectRefused(old, status: nil, "a charger trusting only the old CA")
        #expect((old["error"] as? String)?.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(old)")
        let renewed = try await PythonCharger.attempt(
            [secure, "SEC-RELOAD", "--password-hex", Self.key1, "--ca", pki.path("other-ca.pem")]
        )
        Self.expectConnected(renewed, "a charger trusting the new certificate's CA")
        let report = try await charger.finish()
        // It was replaced by the last connection, not dropped by the reload.
        #expect((report["connections"] as? [[String: Any]])?.first?["closed_by"] as? String == "server")
        #expect(report["resets"] as? [String] == ["Soft"])
        await server.stop()
    }

    // MARK: Unknown chargers

    @Test("A charger the database does not know is held to the default profile, and registered with it")
    func defaultProfile() async throws {
        let pki = try await TestPKI.make()
        defer { pki.remove() }
        let authority = try ChargerCertificateAuthority(certificateFile: pki.caCertificate, keyFile: pki.caKey)
        let server = try await IngestTestServer.start(
            IngestConfiguration(chargerCertificateAuthority: authority),
            defaultSecurityProfile: 3,
            tls: TestTLSFiles(certificate: pki.serverCertificate, key: pki.serverKey, clientCA: pki.caCertificate)
        )
        let secure = Self.secureURL(try #require(server.tlsPort))
        let trust = ["--ca", pki.caCertificate]
        let newcomer = try await pki.issue("newcomer", commonName: "SEC-NEW")
        let someoneElse = try await pki.issue("someone", commonName: "SEC-SOMEONE")

        let plain = try await PythonCharger.attempt([Self.plainURL(server), "SEC-NEW", "--password-hex", Self.key1])
        Self.expectRefused(plain, status: 403, "an unknown charger over plain ws at default profile 3")
        let basic = try await PythonCharger.attempt([secure, "SEC-NEW", "--password-hex", Self.key1] + trust)
        Self.expectRefused(basic, status: 403, "an unknown charger with a password at default profile 3")
        let wrongName = try await PythonCharger.attempt(
            [secure, "SEC-NEW", "--cert", someoneElse.certificate, "--key", someoneElse.key] + trust
        )
        Self.expectRefused(wrongName, status: 403, "an unknown charger with another id's certificate")
        #expect(try await Self.charger(server, "SEC-NEW") == nil, "a refused charger is not registered")

        let accepted = try await PythonCharger.attempt(
            [secure, "SEC-NEW", "--cert", newcomer.certificate, "--key", newcomer.key] + trust
        )
        Self.expectConnected(accepted, "an unknown charger with its certificate at default profile 3")
        let registered = try #require(try await Self.charger(server, "SEC-NEW"))
        #expect(registered["security_profile"] as? Int == 3)
        await server.stop()

        let profile1 = try await IngestTestServer.start(defaultSecurityProfile: 1)
        let anonymous = try await PythonCharger.attempt([Self.plainURL(profile1), "SEC-NEW1"])
        Self.expectRefused(anonymous, status: 401, "an unknown charger without credentials at default profile 1")
        let guessed = try await PythonCharger.attempt([
            Self.plainURL(profile1), "SEC-NEW1", "--password-hex", Self.key1,
        ])
        Self.expectRefused(guessed, status: 401, "an unknown charger with a password at default profile 1")
        #expect(try await Self.charger(profile1, "SEC-NEW1") == nil, "a refused charger is not registered")
        await profile1.stop()
    }

    // MARK: Helpers

    static func plainURL(_ server: IngestTestServer) -> String { "ws://127.0.0.1:\(server.port)/ocpp" }

    static func secureURL(_ port: Int) -> String { "wss://127.0.0.1:\(port)/ocpp" }

    /// The test server with its TLS listener on a port of its own: `pki`'s server certificate,
    /// client certificates verified against `pki`'s CA, which also signs charger certificates
    /// when `signsChargerCertificates`.
    static func startSecureServer(
        _ pki: TestPKI,
        signsChargerCertificates: Bool = false
    ) async throws -> (server: IngestTestServer, tlsPort: Int) {
        let authority =
            signsChargerCertificates
            ? try ChargerCertificateAuthority(certificateFile: pki.caCertificate, keyFile: pki.caKey) : nil
        let server = try await IngestTestServer.start(
            IngestConfiguration(chargerCertificateAuthority: authority),
            tls: TestTLSFiles(certificate: pki.serverCertificate, key: pki.serverKey, clientCA: pki.caCertificate)
        )
        guard let tlsPort = server.tlsPort else { throw TestFailure("the test server has no TLS listener") }
        return (server, tlsPort)
    }

    /// Registers a charger through the REST API at `profile`, with `key` when given; its database id.
    static func register(
        _ server: IngestTestServer,
        _ chargePointID: String,
        profile: Int,
        key: String?
    ) async throws
        -> Int
    {
        let created = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/db/chargers",
            body: #"{"charge_point_id":"\#(chargePointID)","security_profile":\#(profile)}"#
        )
        guard created.status == 201, let id = IntegrationEndpointTests.object(created)["id"] as? Int else {
            throw TestFailure("registering \(chargePointID): \(created.status) \(created.body)")
        }
        if let key {
            let set = try await setKey(server, id, key)
            guard set.status == 200 else {
                throw TestFailure("provisioning \(chargePointID): \(set.status) \(set.body)")
            }
        }
        return id
    }

    /// The charger `GET /db/chargers?charge_point_id=` finds, if any.
    static func charger(_ server: IngestTestServer, _ chargePointID: String) async throws -> [String: Any]? {
        let response = try await CommandEndpointTests.http(
            server.port,
            "GET",
            "/db/chargers?charge_point_id=\(chargePointID)"
        )
        guard response.status == 200, let items = IntegrationEndpointTests.object(response)["items"] as? [Any] else {
            throw TestFailure("listing chargers: \(response.status) \(response.body)")
        }
        return try items.first.map { try object($0) }
    }

    /// The payloads of a charger's stored events of `action`, `GET /db/chargers/{id}/events`.
    static func events(_ server: IngestTestServer, _ id: Int, action: String) async throws -> [[String: Any]] {
        let response = try await CommandEndpointTests.http(
            server.port,
            "GET",
            "/db/chargers/\(id)/events?action=\(action)&limit=100"
        )
        guard response.status == 200, let items = IntegrationEndpointTests.object(response)["items"] as? [Any] else {
            throw TestFailure("reading events: \(response.status) \(response.body)")
        }
        return try items.map { try object(try object($0)["payload"] ?? [:]) }
    }

    /// `POST /db/chargers/{id}/authorization_key`: sets `key`, or with nil has the server generate one.
    static func setKey(
        _ server: IngestTestServer,
        _ id: Int,
        _ key: String?
    ) async throws
        -> CommandEndpointTests.HTTPResponse
    {
        try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/db/chargers/\(id)/authorization_key",
            body: key.map { #"{"authorization_key":"\#($0)"}"# } ?? ""
        )
    }

    static func expectConnected(
        _ attempt: [String: Any],
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(attempt["connected"] as? Bool == true, "\(what): \(attempt)", sourceLocation: sourceLocation)
        #expect(attempt["boot_status"] as? String == "Accepted", "\(what): \(attempt)", sourceLocation: sourceLocation)
    }

    /// Refused before the WebSocket opened: with the HTTP `status`, or with none when the TLS
    /// handshake already failed, then with the server's TLS `alert` when given (OpenSSL's name,
    /// as Python reports it).
    static func expectRefused(
        _ attempt: [String: Any],
        status: Int?,
        _ what: String,
        alert: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(attempt["connected"] as? Bool == false, "\(what): \(attempt)", sourceLocation: sourceLocation)
        #expect(attempt["http_status"] as? Int == status, "\(what): \(attempt)", sourceLocation: sourceLocation)
        if let alert {
            let error = attempt["error"] as? String ?? ""
            #expect(error.contains(alert), "\(what): \(attempt)", sourceLocation: sourceLocation)
        }
    }

    static func expectChallenge(
        _ attempt: [String: Any],
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let challenge = attempt["www_authenticate"] as? String ?? ""
        let basic = challenge == Self.challenge || challenge.hasPrefix(Self.challenge + ",")
        #expect(basic, "\(what): \(attempt)", sourceLocation: sourceLocation)
    }

    /// The PEM blocks of a chain, in order.
    static func pemCertificates(_ chain: String) -> [String] {
        let end = "-----END CERTIFICATE-----"
        return chain.components(separatedBy: end).dropLast()
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" + end + "\n" }
    }
}

/// Keys and certificates made with the `openssl` command in a temporary directory: a CA (which
/// the server trusts for client certificates and signs charger certificates with), another CA
/// the server does not know, the server's certificate for 127.0.0.1 and localhost, and client
/// certificates on demand.
struct TestPKI {
    let directory: URL

    var caCertificate: String { path("ca.pem") }
    var caKey: String { path("ca.key") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server.key") }

    /// `openssl ca` with one database for both CAs; the extensions come from the files below.
    private static let configuration = """
        [ca]
        default_ca = test
        [test]
        database = index.txt
        new_certs_dir = .
        serial = serial
        default_md = sha256
        policy = any
        unique_subject = no
        copy_extensions = none
        [any]
        commonName = supplied
        """

    static func make() async throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        let files = [
            "ca.cnf": configuration,
            "index.txt": "",
            "serial": "1000\n",
            "client.ext": "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                + "extendedKeyUsage=clientAuth\n",
            "server.ext": "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        ]
        do {
            for (name, text) in files { try Data(text.utf8).write(to: directory.appendingPathComponent(name)) }
            try await pki.authority("ca", commonName: "Interop Charger CA")
            try await pki.authority("other-ca", commonName: "Interop Other CA")
            try await pki.issue("server", commonName: "localhost", extensions: "server.ext")
            return pki
        } catch {
            pki.remove()
            throw error
        }
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// A self-signed CA certificate `name.pem` with its key `name.key` (P-256).
    func authority(_ name: String, commonName: String) async throws {
        try await openssl(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).pem", "-subj", "/CN=\(commonName)", "-days", "30",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )
    }

    /// A certificate `name.pem` with its key `name.key`, signed by the CA `issuer`; an `expired`
    /// one was valid in January 2025 only.
    @discardableResult
    func issue(
        _ name: String,
        commonName: String,
        issuer: String = "ca",
        extensions: String = "client.ext",
        expired: Bool = false
    ) async throws -> (certificate: String, key: String) {
        try await openssl(
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)",
            ]
        )
        let validity = expired ? ["-startdate", "20250101000000Z", "-enddate", "20250201000000Z"] : ["-days", "30"]
        try await openssl(
            [
                "ca", "-batch", "-config", "ca.cnf", "-cert", "\(issuer).pem", "-keyfile", "\(issuer).key",
                "-in", "\(name).csr", "-out", "\(name).pem", "-notext", "-extfile", extensions,
            ] + validity
        )
        return (path("\(name).pem"), path("\(name).key"))
    }

    /// Runs `openssl` in the directory; its standard output.
    @discardableResult
    func openssl(_ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let (ended, finish) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in finish.finish() }
        try process.run()
        for await _ in ended {}
        let text = String(decoding: try output.fileHandleForReading.readToEnd() ?? Data(), as: UTF8.self)
        let error = String(decoding: try errors.fileHandleForReading.readToEnd() ?? Data(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestFailure("openssl \(arguments.joined(separator: " ")) failed:\n\(text)\(error)")
        }
        return text
    }
}

/// One run of `Interop/security_charge_point.py`: its JSON lines as they come, its standard
/// input for commands (`sign`, `reconnect`; the end of input ends it).
final class PythonCharger {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Interop/security_charge_point.py")

    private let process: Process
    private let input: Pipe
    private let outputPipe: Pipe
    private let errors: Pipe
    private let output: ChildOutput
    /// Standard error, collected as it arrives so that the pipe never fills.
    private let errorOutput: ChildOutput
    private let ended: AsyncStream<Void>
    private let arguments: [String]
    /// Lines before it have been looked at by `next`.
    private var cursor = 0

    /// Starts the script with `arguments` (URL, id, options).
    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ProcessInfo.processInfo.environment["OCPP_TEST_PYTHON"] ?? "python3"
        process.arguments = [python, Self.script.path] + arguments
        input = Pipe()
        outputPipe = Pipe()
        errors = Pipe()
        process.standardInput = input
        process.standardOutput = outputPipe
        process.standardError = errors
        output = ChildOutput(reading: outputPipe)
        errorOutput = ChildOutput(reading: errors)
        let (ended, finish) = AsyncStream<Void>.makeStream()
        self.ended = ended
        process.terminationHandler = { _ in finish.finish() }
        try process.run()
    }

    /// Connects once, boots, and ends; the report of that connection attempt.
    static func attempt(_ arguments: [String]) async throws -> [String: Any] {
        let charger = try PythonCharger(arguments)
        let report = try await charger.finish()
        guard let connections = report["connections"] as? [[String: Any]], let first = connections.first else {
            throw TestFailure("no connection attempt in \(report)")
        }
        return first
    }

    /// The next line with `"event": event` after those already looked at.
    func next(_ event: String, timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let running = process.isRunning
            if !running { try await drain() }
            let lines = output.lines
            while cursor < lines.count {
                let line = lines[cursor]
                cursor += 1
                let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                if let parsed, parsed["event"] as? String == event { return parsed }
            }
            guard running, ContinuousClock.now < deadline else {
                throw TestFailure(
                    "no \(event) from the python charger \(arguments):\n\(output.text)\nstderr:\n\(errorOutput.text)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Writes a command line to its standard input.
    func send(_ command: String) {
        guard process.isRunning else { return }
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
    }

    /// Ends its input, waits for it to exit, and answers its final report.
    func finish(timeout: Duration = .seconds(60)) async throws -> [String: Any] {
        try? input.fileHandleForWriting.close()
        let ended = ended
        let exited = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in ended {}
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !exited {
            process.terminate()
            throw TestFailure("the python charger \(arguments) still runs after \(timeout)")
        }
        try await drain()
        let stderr = errorOutput.text
        guard process.terminationStatus == 0 else {
            throw TestFailure("the python charger \(arguments) failed (\(process.terminationStatus)):\n\(stderr)")
        }
        guard let last = output.lines.last,
            let report = try? object(try JSONSerialization.jsonObject(with: Data(last.utf8))),
            report["event"] as? String == "report"
        else { throw TestFailure("no report from the python charger \(arguments); stderr:\n\(stderr)") }
        return report
    }

    /// Waits for what is left in the pipes once the process has ended.
    private func drain() async throws {
        try await output.waitForEnd(timeout: .seconds(10))
        try await errorOutput.waitForEnd(timeout: .seconds(10))
    }

    deinit {
        // A test that failed half-way leaves no charger behind.
        if process.isRunning { process.terminate() }
    }
}
