import Foundation
import Ingest
import Relational
import Testing

/// The upgrade's authentication decision, every profile against every kind of attempt,
/// without sockets.
@Suite("Charger authentication")
struct ChargerAuthenticationTests {
    static let id = "CP-1"
    static let currentKey = try! AuthorizationKey(hex: "00112233445566778899AABBCCDDEEFF00112233")
    static let pendingKey = try! AuthorizationKey(hex: "FFEEDDCCBBAA99887766554433221100")
    static let otherKey = try! AuthorizationKey(hex: "0102030405060708090A0B0C0D0E0F10")

    static func credentials(profile: Int, current: Bool = true, pending: Bool = false) -> ChargerCredentials {
        ChargerCredentials(
            registrationStatus: "Accepted",
            securityProfile: profile,
            current: current ? AuthorizationKeyHash(key: currentKey) : nil,
            pending: pending ? AuthorizationKeyHash(key: pendingKey) : nil
        )
    }

    /// `Basic base64(user:password)` with the password as raw bytes.
    static func basic(_ user: String, _ password: [UInt8]) -> String {
        "Basic " + Data(Array(user.utf8) + [UInt8(ascii: ":")] + password).base64EncodedString()
    }

    static let right = basic(id, currentKey.bytes)
    static let rightAsHex = basic(id, Array(currentKey.hex.utf8))
    static let pending = basic(id, pendingKey.bytes)
    static let wrongPassword = basic(id, otherKey.bytes)
    static let wrongUser = basic("CP-2", currentKey.bytes)

    enum Expected: Equatable, CustomStringConvertible {
        case accept
        case acceptPromoting
        case refuse(Int, String)

        var description: String {
            switch self {
            case .accept: return "accept"
            case .acceptPromoting: return "accept, promoting the pending key"
            case .refuse(let status, let reason): return "refuse \(status) \(reason)"
            }
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var credentials: ChargerCredentials?
        var defaultProfile = 0
        var transport: ChargerTransport
        var authorization: String?
        var expected: Expected

        var testDescription: String { name }
    }

    static let plain = ChargerTransport.plain
    static let tls = ChargerTransport.tls(clientCertificateCommonName: nil)
    static let ownCertificate = ChargerTransport.tls(clientCertificateCommonName: id)
    static let otherCertificate = ChargerTransport.tls(clientCertificateCommonName: "CP-2")

    static let cases: [Case] = [
        // Profile 0: anything, and a pending key that is used becomes current.
        Case(name: "0, plain, nothing", credentials: credentials(profile: 0), transport: plain, expected: .accept),
        Case(
            name: "0, wrong password",
            credentials: credentials(profile: 0),
            transport: plain,
            authorization: wrongPassword,
            expected: .accept
        ),
        Case(
            name: "0, pending key",
            credentials: credentials(profile: 0, pending: true),
            transport: plain,
            authorization: pending,
            expected: .acceptPromoting
        ),
        Case(name: "unknown, default 0", credentials: nil, transport: plain, expected: .accept),
        // Profile 1: Basic credentials over ws or wss, or a certificate.
        Case(
            name: "1, plain, right",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: right,
            expected: .accept
        ),
        Case(
            name: "1, plain, key as hex text",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: rightAsHex,
            expected: .accept
        ),
        Case(
            name: "1, TLS, right",
            credentials: credentials(profile: 1),
            transport: tls,
            authorization: right,
            expected: .accept
        ),
        Case(
            name: "1, own certificate, no credentials",
            credentials: credentials(profile: 1),
            transport: ownCertificate,
            expected: .accept
        ),
        Case(
            name: "1, no credentials",
            credentials: credentials(profile: 1),
            transport: plain,
            expected: .refuse(401, "missing_credentials")
        ),
        Case(
            name: "1, wrong password",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: wrongPassword,
            expected: .refuse(401, "wrong_password")
        ),
        Case(
            name: "1, another charger's user name",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: wrongUser,
            expected: .refuse(401, "wrong_user")
        ),
        Case(
            name: "1, not Basic",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: "Bearer abc",
            expected: .refuse(401, "malformed_credentials")
        ),
        Case(
            name: "1, Basic that is not base64",
            credentials: credentials(profile: 1),
            transport: plain,
            authorization: "Basic ***",
            expected: .refuse(401, "malformed_credentials")
        ),
        Case(
            name: "1, no key set",
            credentials: credentials(profile: 1, current: false),
            transport: plain,
            authorization: right,
            expected: .refuse(401, "no_key")
        ),
        Case(
            name: "1, current key while one is pending",
            credentials: credentials(profile: 1, pending: true),
            transport: plain,
            authorization: right,
            expected: .accept
        ),
        Case(
            name: "1, pending key",
            credentials: credentials(profile: 1, pending: true),
            transport: plain,
            authorization: pending,
            expected: .acceptPromoting
        ),
        Case(
            name: "1, another charger's certificate, no credentials",
            credentials: credentials(profile: 1),
            transport: otherCertificate,
            expected: .refuse(401, "missing_credentials")
        ),
        Case(
            name: "unknown, default 1, credentials",
            credentials: nil,
            defaultProfile: 1,
            transport: plain,
            authorization: right,
            expected: .refuse(401, "unknown_charger")
        ),
        Case(
            name: "unknown, default 1, nothing",
            credentials: nil,
            defaultProfile: 1,
            transport: plain,
            expected: .refuse(401, "missing_credentials")
        ),
        // Profile 2: TLS and Basic credentials, or a certificate.
        Case(
            name: "2, TLS, right",
            credentials: credentials(profile: 2),
            transport: tls,
            authorization: right,
            expected: .accept
        ),
        Case(
            name: "2, plain, right",
            credentials: credentials(profile: 2),
            transport: plain,
            authorization: right,
            expected: .refuse(403, "tls_required")
        ),
        Case(
            name: "2, TLS, wrong password",
            credentials: credentials(profile: 2),
            transport: tls,
            authorization: wrongPassword,
            expected: .refuse(401, "wrong_password")
        ),
        Case(
            name: "2, TLS, no credentials",
            credentials: credentials(profile: 2),
            transport: tls,
            expected: .refuse(401, "missing_credentials")
        ),
        Case(
            name: "2, own certificate",
            credentials: credentials(profile: 2),
            transport: ownCertificate,
            expected: .accept
        ),
        Case(
            name: "2, another charger's certificate and right credentials",
            credentials: credentials(profile: 2),
            transport: otherCertificate,
            authorization: right,
            expected: .accept
        ),
        Case(
            name: "2, TLS, pending key",
            credentials: credentials(profile: 2, pending: true),
            transport: tls,
            authorization: pending,
            expected: .acceptPromoting
        ),
        Case(
            name: "unknown, default 2, plain",
            credentials: nil,
            defaultProfile: 2,
            transport: plain,
            expected: .refuse(403, "tls_required")
        ),
        // Profile 3: TLS with the charger's own certificate, nothing else.
        Case(
            name: "3, own certificate",
            credentials: credentials(profile: 3),
            transport: ownCertificate,
            expected: .accept
        ),
        Case(
            name: "3, TLS without a certificate, right credentials",
            credentials: credentials(profile: 3),
            transport: tls,
            authorization: right,
            expected: .refuse(403, "client_certificate_required")
        ),
        Case(
            name: "3, another charger's certificate",
            credentials: credentials(profile: 3),
            transport: otherCertificate,
            authorization: right,
            expected: .refuse(403, "client_certificate_mismatch")
        ),
        Case(
            name: "3, plain, right credentials",
            credentials: credentials(profile: 3),
            transport: plain,
            authorization: right,
            expected: .refuse(403, "tls_required")
        ),
        Case(
            name: "unknown, default 3, own certificate",
            credentials: nil,
            defaultProfile: 3,
            transport: ownCertificate,
            expected: .accept
        ),
        Case(
            name: "the charger's profile wins over the default",
            credentials: credentials(profile: 0),
            defaultProfile: 3,
            transport: plain,
            expected: .accept
        ),
    ]

    @Test("Each profile accepts what it allows and refuses the rest", arguments: cases)
    func decision(_ example: Case) {
        let decision = ChargerAuthentication.decide(
            chargePointID: Self.id,
            credentials: example.credentials,
            defaultProfile: example.defaultProfile,
            transport: example.transport,
            authorization: example.authorization
        )
        let got: Expected
        switch decision {
        case .accept(let promote): got = promote ? .acceptPromoting : .accept
        case .refuse(let refusal): got = .refuse(refusal.status, refusal.reason)
        }
        #expect(got == example.expected)
        if case .refuse(let refusal) = decision {
            #expect(refusal.challengesBasic == (refusal.status == 401))
            // The answer never hints at which part of the credentials was wrong.
            if refusal.status == 401, refusal.reason != "missing_credentials", refusal.reason != "malformed_credentials"
            {
                #expect(refusal.detail == "wrong user name or password")
            }
            let expectedEvent =
                switch refusal.reason {
                case "tls_required": ChargerAuthentication.SecurityEventType.tlsRequired
                case "client_certificate_required", "client_certificate_mismatch":
                    ChargerAuthentication.SecurityEventType.invalidCertificate
                default: ChargerAuthentication.SecurityEventType.invalidCredentials
                }
            #expect(refusal.securityEvent == expectedEvent)
        }
    }

    @Test("A charge point id holding a colon authenticates: the user name is matched whole")
    func colonInID() {
        let decision = ChargerAuthentication.decide(
            chargePointID: "CP:1",
            credentials: Self.credentials(profile: 1),
            defaultProfile: 0,
            transport: .plain,
            authorization: Self.basic("CP:1", Self.currentKey.bytes)
        )
        #expect(decision == .accept(promotePendingKey: false))
    }

    @Test("Base64 without its padding is accepted, as some firmwares send it")
    func unpadded() {
        let authorization = Self.basic(Self.id, Self.currentKey.bytes).replacingOccurrences(of: "=", with: "")
        #expect(authorization != Self.basic(Self.id, Self.currentKey.bytes))
        let decision = ChargerAuthentication.decide(
            chargePointID: Self.id,
            credentials: Self.credentials(profile: 1),
            defaultProfile: 0,
            transport: .plain,
            authorization: authorization
        )
        #expect(decision == .accept(promotePendingKey: false))
    }

    @Test("A database that does not answer refuses with 503 and stores no event")
    func databaseUnavailable() {
        let refusal = ChargerAuthentication.databaseUnavailable
        #expect(refusal.status == 503)
        #expect(refusal.securityEvent == nil)
        #expect(!refusal.challengesBasic)
    }

    @Test("The challenge names the OCPP realm and UTF-8")
    func challenge() {
        #expect(ChargerAuthentication.challenge == #"Basic realm="OCPP", charset="UTF-8""#)
    }
}
