import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Relational
import TestSupport
import Testing

/// `security_profile` on `/db/chargers` and `POST /db/chargers/{charger_id}/authorization_key`
/// for chargers that are not connected, over a real socket, on SQLite and PostgreSQL.
@Suite("Authorization keys and security profiles")
struct AuthorizationKeyTests {
    typealias Answer = DatabaseEndpointTests.Answer
    typealias Client = DatabaseEndpointTests.Client

    /// Runs `body` with a client of an API (without OCPP) on a fresh database of `backend`
    /// whose default security profile is `defaultSecurityProfile`.
    static func withAPI(
        _ backend: TestBackend,
        defaultSecurityProfile: Int = 0,
        _ body: @escaping @Sendable (_ call: Client, _ store: RelationalStore) async throws -> Void
    ) async throws {
        let database = try await backend.makeDatabase()
        let store = try await RelationalStore(
            url: database.url,
            logger: TestBackend.logger,
            defaultSecurityProfile: defaultSecurityProfile
        )
        do {
            try await store.migrate()
            let application = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                relational: store,
                authentication: .disabled,
                logger: TestBackend.logger
            )
            try await application.testLive { client in
                try await body(Client(client: client), store)
            }
        } catch {
            await store.shutdown()
            try? await database.drop()
            throw error
        }
        await store.shutdown()
        try await database.drop()
    }

    @Test(
        "security_profile: the default on create, kept by PUT, written by PATCH, 0...3",
        arguments: TestBackend.allCases
    )
    func securityProfile(backend: TestBackend) async throws {
        try await Self.withAPI(backend, defaultSecurityProfile: 2) { call, _ in
            let created = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-1"}"#)
            #expect(created.status == 201, "\(created.body)")
            #expect(created.object["security_profile"] as? Int == 2)
            let given = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-2","security_profile":0}"#)
            #expect(given.object["security_profile"] as? Int == 0)
            let id = created.id

            let patched = try await call(.patch, "/db/chargers/\(id)", #"{"security_profile":3}"#)
            #expect(patched.status == 200, "\(patched.body)")
            #expect(patched.object["security_profile"] as? Int == 3)
            // A full replacement that leaves it out never lowers it.
            let replaced = try await call(.put, "/db/chargers/\(id)", #"{"charge_point_id":"CP-1","vendor":"V"}"#)
            #expect(replaced.status == 200, "\(replaced.body)")
            #expect(replaced.object["security_profile"] as? Int == 3)
            #expect(replaced.object["vendor"] as? String == "V")
            let put = try await call(.put, "/db/chargers/\(id)", #"{"charge_point_id":"CP-1","security_profile":1}"#)
            #expect(put.object["security_profile"] as? Int == 1)
            #expect(try await call(.get, "/db/chargers/\(id)").object["security_profile"] as? Int == 1)

            let filtered = try await call(.get, "/db/chargers?security_profile=0")
            #expect(filtered.items.map { $0["charge_point_id"] as? String } == ["CP-2"])
            #expect(try await call(.get, "/db/chargers?security_profile=x").status == 422)
            let sorted = try await call(.get, "/db/chargers?sort=-security_profile")
            #expect(sorted.items.map { $0["charge_point_id"] as? String } == ["CP-1", "CP-2"])

            for bad in ["4", "-1", "\"1\"", "null", "1.5", "true"] {
                let patch = try await call(.patch, "/db/chargers/\(id)", #"{"security_profile":\#(bad)}"#)
                #expect(patch.status == 422, "\(bad): \(patch.body)")
                #expect(patch.invalid?.loc == ["body", "security_profile"], "\(bad)")
                let create = try await call(
                    .post,
                    "/db/chargers",
                    #"{"charge_point_id":"CP-X","security_profile":\#(bad)}"#
                )
                #expect(create.status == 422, "\(bad): \(create.body)")
            }
            #expect(try await call(.get, "/db/chargers/\(id)").object["security_profile"] as? Int == 1)
        }
    }

    @Test(
        "A key given in hex is answered once, in upper case, and only its hash is kept",
        arguments: TestBackend.allCases
    )
    func givenKey(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let charger = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-K","security_profile":1}"#)
            let hex = "00112233445566778899aabbccddeeff01234567"
            let set = try await call(
                .post,
                "/db/chargers/\(charger.id)/authorization_key",
                #"{"authorization_key":"\#(hex)"}"#
            )
            #expect(set.status == 200, "\(set.body)")
            #expect(set.object["authorization_key"] as? String == hex.uppercased())
            #expect(set.object["pending"] as? Bool == false)
            #expect(set.object["change_configuration_status"] is NSNull)
            #expect(set.headers[.contentType] == "application/json")
            let credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            let key = try AuthorizationKey(hex: hex)
            #expect(credentials.match(password: key.bytes) == .current)
            #expect(credentials.match(password: hex.utf8) == .current)
            #expect(credentials.pending == nil)
            try await Self.expectNoHashes(call, charger.id, credentials)

            // 16 bytes are enough; a new key replaces the old.
            let short = try await call(
                .post,
                "/db/chargers/\(charger.id)/authorization_key",
                #"{"authorization_key":"ABCDEFABCDEFABCDEFABCDEFABCDEFAB"}"#
            )
            #expect(short.status == 200, "\(short.body)")
            let replaced = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(replaced.match(password: key.bytes) == nil)
            #expect(replaced.match(password: "ABCDEFABCDEFABCDEFABCDEFABCDEFAB".utf8) == .current)
        }
    }

    @Test("An empty body or {} generates a key of 20 random bytes", arguments: TestBackend.allCases)
    func generatedKey(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let charger = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-G"}"#)
            var keys: [String] = []
            for body in [nil, "{}"] {
                let set = try await call(.post, "/db/chargers/\(charger.id)/authorization_key", body)
                #expect(set.status == 200, "\(set.body)")
                let hex = try #require(set.object["authorization_key"] as? String)
                #expect(hex.count == 40)
                #expect(hex == hex.uppercased())
                let key = try AuthorizationKey(hex: hex)
                let credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-G"))
                #expect(credentials.match(password: key.bytes) == .current)
                try await Self.expectNoHashes(call, charger.id, credentials)
                keys.append(hex)
            }
            #expect(keys[0] != keys[1])
            // The first key no longer works.
            let credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-G"))
            #expect(credentials.match(password: try AuthorizationKey(hex: keys[0]).bytes) == nil)
        }
    }

    @Test(
        "Invalid keys and bodies are 422, an unknown charger 404, and nothing is stored",
        arguments: TestBackend.allCases
    )
    func refusals(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let charger = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-R"}"#)
            let path = "/db/chargers/\(charger.id)/authorization_key"
            let invalid: [(body: String, loc: [String])] = [
                (#"{"authorization_key":"\#(String(repeating: "a", count: 30))"}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":"\#(String(repeating: "a", count: 42))"}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":"\#(String(repeating: "a", count: 33))"}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":"\#(String(repeating: "x", count: 32))"}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":""}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":12345678901234567890}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":null}"#, ["body", "authorization_key"]),
                (#"{"authorization_key":"\#(String(repeating: "a", count: 32))","extra":1}"#, ["body", "extra"]),
                (#"{"key":"\#(String(repeating: "a", count: 32))"}"#, ["body", "key"]),
                ("[]", ["body"]),
                ("not json", ["body"]),
            ]
            for (body, loc) in invalid {
                let answer = try await call(.post, path, body)
                #expect(answer.status == 422, "\(body): \(answer.body)")
                #expect(answer.invalid?.loc == loc, "\(body): \(answer.body)")
            }
            #expect(try await store.chargerCredentials(chargePointID: "CP-R")?.current == nil)

            let missing = try await call(.post, "/db/chargers/\(charger.id + 1000)/authorization_key", nil)
            #expect(missing.status == 404, "\(missing.body)")
            let notAnID = try await call(.post, "/db/chargers/CP-R/authorization_key", nil)
            #expect(notAnID.status == 422)
            #expect(notAnID.invalid?.loc == ["path", "charger_id"])
            let tooLarge = try await call(.post, path, String(repeating: " ", count: 5000) + "{}")
            #expect(tooLarge.status == 413)
            #expect(try await store.chargerCredentials(chargePointID: "CP-R")?.current == nil)
            // A key is not a field of the charger itself.
            let patched = try await call(
                .patch,
                "/db/chargers/\(charger.id)",
                #"{"authorization_key":"\#(String(repeating: "a", count: 32))"}"#
            )
            #expect(patched.status == 422)
            #expect(patched.invalid?.type == "extra_forbidden")
        }
    }

    /// No answer about the charger carries its key hashes, their parts, or the key's columns.
    static func expectNoHashes(
        _ call: Client,
        _ id: Int,
        _ credentials: ChargerCredentials,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let hashes = [credentials.current, credentials.pending].compactMap { $0?.encoded }
        let parts = hashes.flatMap { $0.split(separator: ":").dropFirst().map(String.init) }
        let answers = [
            try await call(.get, "/db/chargers/\(id)"),
            try await call(.get, "/db/chargers"),
            try await call(.get, "/db/chargers?sort=security_profile&limit=1"),
            try await call(.patch, "/db/chargers/\(id)", "{}"),
        ]
        for answer in answers {
            #expect(answer.status == 200, "\(answer.body)", sourceLocation: sourceLocation)
            let body = answer.body.lowercased()
            #expect(!body.contains("hmac"), "\(answer.body)", sourceLocation: sourceLocation)
            #expect(!body.contains("authorization_key"), "\(answer.body)", sourceLocation: sourceLocation)
            for part in parts {
                #expect(!body.contains(part), "\(answer.body)", sourceLocation: sourceLocation)
            }
        }
        let charger = answers[0].object
        #expect(
            Set(charger.keys).isDisjoint(with: ["authorization_key_hash", "pending_authorization_key_hash"]),
            sourceLocation: sourceLocation
        )
    }
}
