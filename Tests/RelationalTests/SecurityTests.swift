import Foundation
import SQLKit
import TestSupport
import Testing

@testable import Relational

/// Authorization keys, their salted hashes and the password rule, and what the store keeps
/// of them: security profiles, current and pending key hashes, the credentials query.
@Suite("Charger security")
struct SecurityTests {
    static let keyBytes: [UInt8] = Array(16..<36)
    static let key = try! AuthorizationKey(bytes: keyBytes)
    static let otherKey = try! AuthorizationKey(hex: "000102030405060708090A0B0C0D0E0F")

    // MARK: - Keys

    @Test("A key is 16 to 20 bytes, read from 32 to 40 hex digits of either case")
    func keyText() throws {
        #expect(Self.key.hex == "101112131415161718191A1B1C1D1E1F20212223")
        #expect(try AuthorizationKey(hex: "101112131415161718191a1b1c1d1e1f20212223") == Self.key)
        #expect(try AuthorizationKey(hex: "101112131415161718191A1b1C1d1E1f20212223").bytes == Self.keyBytes)
        #expect(try AuthorizationKey(hex: String(repeating: "ab", count: 16)).bytes.count == 16)
        #expect(try AuthorizationKey(hex: String(repeating: "AB", count: 18)).bytes.count == 18)
        for bad in [
            "", String(repeating: "a", count: 30), String(repeating: "a", count: 31), String(repeating: "a", count: 33),
            String(repeating: "a", count: 42), String(repeating: "a", count: 39),
            String(repeating: "g", count: 32), "0x" + String(repeating: "a", count: 32),
            String(repeating: "a", count: 30) + " a", String(repeating: "é", count: 16),
        ] {
            #expect(throws: AuthorizationKeyError.self, "\(bad)") { try AuthorizationKey(hex: bad) }
        }
        #expect(throws: AuthorizationKeyError.self) { try AuthorizationKey(bytes: [UInt8](repeating: 1, count: 15)) }
        #expect(throws: AuthorizationKeyError.self) { try AuthorizationKey(bytes: [UInt8](repeating: 1, count: 21)) }
        let error = try #require(throws: AuthorizationKeyError.self) { try AuthorizationKey(hex: "abc") }
        #expect(error.reason.contains("32 to 40 hexadecimal digits"))
        // Neither a key nor a hash shows its bytes when printed or logged.
        #expect(!"\(Self.key)".contains("1011"))
        #expect(!"\(AuthorizationKeyHash(key: Self.key))".lowercased().contains("1011"))
    }

    @Test("A generated key is 20 fresh random bytes")
    func generated() throws {
        let keys = (0..<64).map { _ in AuthorizationKey.generate() }
        #expect(keys.allSatisfy { $0.bytes.count == 20 })
        #expect(Set(keys.map(\.hex)).count == keys.count)
        for key in keys { #expect(try AuthorizationKey(hex: key.hex) == key) }
        // Nearly every byte value turns up in 64 x 20 draws (no fixed or low-entropy pattern).
        #expect(Set(keys.flatMap(\.bytes)).count > 200)
    }

    // MARK: - Hashes

    @Test("The hash is HMAC-SHA256 keyed by the salt over the key's bytes")
    func knownAnswer() throws {
        let hash = AuthorizationKeyHash(key: Self.key, salt: Array(0..<16))
        #expect(
            hash.encoded
                == "hmac-sha256:000102030405060708090a0b0c0d0e0f:"
                + "86275fe457a5b27ed94edf5e1b22754b3c6f7f3d4b36b97d8d4e507a7946b9d2"
        )
        #expect(AuthorizationKeyHash(encoded: hash.encoded) == hash)
        #expect(AuthorizationKeyHash(encoded: hash.encoded)?.matches(Self.keyBytes) == true)
    }

    @Test("Each hash has its own salt; an encoded hash reads back, a malformed one does not")
    func salts() throws {
        let first = AuthorizationKeyHash(key: Self.key)
        let second = AuthorizationKeyHash(key: Self.key)
        #expect(first.salt.count == 16)
        #expect(first.salt != second.salt)
        #expect(first.digest != second.digest)
        #expect(first != second)
        #expect(first.matches(Self.keyBytes) && second.matches(Self.keyBytes))
        #expect(AuthorizationKeyHash(encoded: first.encoded) == first)
        #expect(!first.encoded.contains(Self.key.hex.lowercased()))
        let parts = first.encoded.split(separator: ":").map(String.init)
        for bad in [
            "", "hmac-sha256", "sha256:\(parts[1]):\(parts[2])", "hmac-sha256:\(parts[1])",
            "hmac-sha256:\(parts[1].dropLast(2)):\(parts[2])", "hmac-sha256:\(parts[1]):\(parts[2].dropLast(2))",
            "hmac-sha256:\(parts[1]):\(parts[2]):", "hmac-sha256:\(parts[1]):zz\(parts[2].dropFirst(2))",
        ] {
            #expect(AuthorizationKeyHash(encoded: bad) == nil, "\(bad)")
        }
    }

    @Test("A password matches as the key's bytes or its hex text in either case, and nothing else")
    func passwords() throws {
        let hash = AuthorizationKeyHash(key: Self.key)
        #expect(hash.matches(Self.keyBytes))
        #expect(hash.matches(password: Self.keyBytes))
        #expect(hash.matches(Self.key))
        #expect(hash.matches(Self.key.hex.utf8))
        #expect(hash.matches(Self.key.hex.lowercased().utf8))
        #expect(hash.matches("101112131415161718191a1B1C1d1e1f20212223".utf8))

        // Wrong passwords: another key, one bit off, too short or long, empty, the hex text
        // of another key, the hex text with a character changed, added or taken away.
        #expect(!hash.matches(Self.otherKey))
        #expect(!hash.matches(Self.otherKey.bytes))
        #expect(!hash.matches(Self.otherKey.hex.utf8))
        var flipped = Self.keyBytes
        flipped[19] ^= 1
        #expect(!hash.matches(flipped))
        #expect(!hash.matches(Self.keyBytes.dropLast()))
        #expect(!hash.matches(Self.keyBytes + [0]))
        #expect(!hash.matches([UInt8]()))
        #expect(!hash.matches("101112131415161718191A1B1C1D1E1F20212224".utf8))
        #expect(!hash.matches("101112131415161718191A1B1C1D1E1F2021222".utf8))
        #expect(!hash.matches("101112131415161718191A1B1C1D1E1F2021222300".utf8))
        #expect(!hash.matches(" 101112131415161718191A1B1C1D1E1F20212223".utf8))
        // Hex text of the hex text is not the key.
        let doubled = Array(Self.key.hex.utf8).map { String($0, radix: 16) }.joined()
        #expect(!hash.matches(doubled.utf8))
    }

    @Test("Credentials say which key a password is; both are checked")
    func credentialsMatching() {
        let credentials = ChargerCredentials(
            registrationStatus: "Accepted",
            securityProfile: 1,
            current: AuthorizationKeyHash(key: Self.key),
            pending: AuthorizationKeyHash(key: Self.otherKey)
        )
        #expect(credentials.match(password: Self.keyBytes) == .current)
        #expect(credentials.match(password: Self.key.hex.utf8) == .current)
        #expect(credentials.match(password: Self.otherKey.bytes) == .pending)
        #expect(credentials.match(password: Self.otherKey.hex.lowercased().utf8) == .pending)
        #expect(credentials.match(password: AuthorizationKey.generate().bytes) == nil)
        #expect(ChargerCredentials(registrationStatus: "Accepted", securityProfile: 1).match(password: [1, 2]) == nil)
    }

    // MARK: - Store

    @Test("Migration 3 gives existing chargers profile 0 and no keys", arguments: TestBackend.allCases)
    func migration(backend: TestBackend) async throws {
        let database = try await backend.makeDatabase()
        // The server's default is 2, yet chargers of the old schema keep their behaviour.
        let store = try await RelationalStore(url: database.url, logger: TestBackend.logger, defaultSecurityProfile: 2)
        do {
            let dialect = store.dialect
            try await store.backend.withConnection { sql in
                try await sql.raw(
                    SQLQueryString(
                        Migration(
                            version: 0,
                            name: "",
                            statements: [
                                """
                                CREATE TABLE schema_migrations (
                                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {TIME} NOT NULL)
                                """
                            ]
                        ).sql(for: dialect)[0]
                    )
                ).run()
                for migration in Schema.migrations where migration.version < 3 {
                    for statement in migration.sql(for: dialect) { try await sql.raw(SQLQueryString(statement)).run() }
                    try await sql.raw(
                        """
                        INSERT INTO schema_migrations (version, name, applied_at)
                        VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: Date()))
                        """
                    ).run()
                }
                try await sql.raw(
                    """
                    INSERT INTO chargers (charge_point_id, registration_status, created_at, updated_at)
                    VALUES ('CP-OLD', 'Pending', \(bind: Date()), \(bind: Date()))
                    """
                ).run()
            }
            #expect(try await store.migrate() == [3])
            let old = try #require(try await store.chargerCredentials(chargePointID: "CP-OLD"))
            #expect(old == ChargerCredentials(registrationStatus: "Pending", securityProfile: 0))
            #expect(try await store.charger(chargePointID: "CP-OLD")?.securityProfile == 0)
            // New chargers take the server's default.
            _ = try await store.registerUnknownCharger(chargePointID: "CP-NEW", status: "Accepted", at: Date())
            #expect(try await store.chargerCredentials(chargePointID: "CP-NEW")?.securityProfile == 2)
        } catch {
            await store.shutdown()
            try? await database.drop()
            throw error
        }
        await store.shutdown()
        try await database.drop()
    }

    @Test("The default profile must be 0...3")
    func defaultProfileRange() async {
        for profile in [-1, 4] {
            await expectStoreError(.invalidValue) {
                _ = try await RelationalStore(
                    url: .sqlite(.memory),
                    logger: TestBackend.logger,
                    defaultSecurityProfile: profile
                )
            }
        }
    }

    @Test("Every way a charger is created gives it the default profile", arguments: TestBackend.allCases)
    func registrationDefaults(backend: TestBackend) async throws {
        try await Self.withStore(backend, defaultSecurityProfile: 1) { store in
            let now = Date()
            let boot = ChargerBootInfo(vendor: "V", model: "M")
            #expect(
                try await store.registerCharger(
                    chargePointID: "CP-1",
                    boot: boot,
                    registrationStatus: "Accepted",
                    at: now
                )
                .securityProfile == 1
            )
            #expect(
                try await store.bootCharger(
                    chargePointID: "CP-2",
                    boot: boot,
                    unknownCharger: .register(status: "Pending"),
                    at: now
                )?.securityProfile == 1
            )
            _ = try await store.registerUnknownCharger(chargePointID: "CP-3", status: "Accepted", at: now)
            _ = try await store.startSession(
                SessionStart(
                    chargePointID: "CP-4",
                    connectorID: 1,
                    idTag: "TAG",
                    meterStart: 0,
                    timestamp: now,
                    unknownCharger: .register(status: "Accepted")
                )
            )
            _ = try await store.stopSession(
                SessionStop(
                    chargePointID: "CP-5",
                    transactionID: 99,
                    meterStop: 10,
                    timestamp: now,
                    unknownCharger: .register(status: "Accepted")
                )
            )
            try await store.upsertConnectorStatuses([
                ConnectorStatusUpdate(
                    chargePointID: "CP-6",
                    connectorID: 1,
                    status: "Available",
                    errorCode: "NoError",
                    timestamp: now,
                    unknownCharger: .register(status: "Accepted")
                )
            ])
            let created = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-7"))
            #expect(created.securityProfile == 1)
            for id in 1...7 {
                #expect(try await store.chargerCredentials(chargePointID: "CP-\(id)")?.securityProfile == 1, "CP-\(id)")
            }
            // A profile given is kept; a full update without one keeps the charger's.
            let given = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-8", securityProfile: 3))
            #expect(given.securityProfile == 3)
            let replaced = try await store.update(Charger.self, id: given.id, Charger.Fields(chargePointID: "CP-8b"))
            #expect(replaced.securityProfile == 3)
            #expect(replaced.chargePointID == "CP-8b")
            let lowered = try await store.modify(Charger.self, id: given.id) { $0.securityProfile = 0 }
            #expect(lowered.securityProfile == 0)
            // The schema refuses a profile outside 0...3.
            await expectStoreError(.invalidValue) {
                _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-9", securityProfile: 4))
            }
            await expectStoreError(.invalidValue) {
                _ = try await store.modify(Charger.self, id: given.id) { $0.securityProfile = -1 }
            }
        }
    }

    @Test("Keys: current, pending, promotion, clearing; unknown chargers", arguments: TestBackend.allCases)
    func keyLifecycle(backend: TestBackend) async throws {
        try await Self.withStore(backend) { store in
            #expect(try await store.chargerCredentials(chargePointID: "CP-K") == nil)
            await expectStoreError(.notFound) {
                try await store.setAuthorizationKey(
                    AuthorizationKeyHash(key: Self.key),
                    chargePointID: "CP-K",
                    pending: false
                )
            }
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-K", securityProfile: 1))
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-L", securityProfile: 1))
            var credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials == ChargerCredentials(registrationStatus: "Accepted", securityProfile: 1))

            let first = AuthorizationKeyHash(key: Self.key)
            try await store.setAuthorizationKey(first, chargePointID: "CP-K", pending: false)
            try await store.setAuthorizationKey(
                AuthorizationKeyHash(key: AuthorizationKey.generate()),
                chargePointID: "CP-L",
                pending: false
            )
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.current == first)
            #expect(credentials.pending == nil)
            #expect(credentials.match(password: Self.keyBytes) == .current)
            // Another charger's key is not this one's, and this one's is not another's.
            let other = try #require(try await store.chargerCredentials(chargePointID: "CP-L"))
            #expect(other.match(password: Self.keyBytes) == nil)
            #expect(credentials.match(password: Self.otherKey.bytes) == nil)
            #expect(try await !store.promotePendingAuthorizationKey(chargePointID: "CP-K"))

            // A pending key: both work until promotion.
            let second = AuthorizationKeyHash(key: Self.otherKey)
            try await store.setAuthorizationKey(second, chargePointID: "CP-K", pending: true)
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.current == first)
            #expect(credentials.pending == second)
            #expect(credentials.match(password: Self.keyBytes) == .current)
            #expect(credentials.match(password: Self.otherKey.hex.utf8) == .pending)
            // Promotion only of the pending key expected.
            let unrelated = AuthorizationKeyHash(key: Self.otherKey)
            #expect(try await !store.promotePendingAuthorizationKey(chargePointID: "CP-K", ifPending: unrelated))
            #expect(try await store.chargerCredentials(chargePointID: "CP-K")?.pending == second)
            #expect(try await store.promotePendingAuthorizationKey(chargePointID: "CP-K", ifPending: second))
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.current == second)
            #expect(credentials.pending == nil)
            #expect(credentials.match(password: Self.keyBytes) == nil)
            #expect(credentials.match(password: Self.otherKey.bytes) == .current)

            // Promotion without an expected key; clearing; a current key replaces a pending one.
            try await store.setAuthorizationKey(first, chargePointID: "CP-K", pending: true)
            #expect(try await store.promotePendingAuthorizationKey(chargePointID: "CP-K"))
            #expect(try await store.chargerCredentials(chargePointID: "CP-K")?.current == first)
            try await store.setAuthorizationKey(second, chargePointID: "CP-K", pending: true)
            #expect(try await store.clearPendingAuthorizationKey(chargePointID: "CP-K"))
            #expect(try await !store.clearPendingAuthorizationKey(chargePointID: "CP-K"))
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.current == first && credentials.pending == nil)
            try await store.setAuthorizationKey(second, chargePointID: "CP-K", pending: true)
            try await store.setAuthorizationKey(second, chargePointID: "CP-K", pending: false)
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.current == second && credentials.pending == nil)

            // The registration status and profile come along; the key survives a full update.
            let id = try #require(try await store.charger(chargePointID: "CP-K")?.id)
            _ = try await store.update(
                Charger.self,
                id: id,
                Charger.Fields(chargePointID: "CP-K", registrationStatus: "Rejected", securityProfile: 2)
            )
            credentials = try #require(try await store.chargerCredentials(chargePointID: "CP-K"))
            #expect(credentials.registrationStatus == "Rejected")
            #expect(credentials.securityProfile == 2)
            #expect(credentials.current == second)
        }
    }

    @Test("The stored text is the hash, never the key", arguments: TestBackend.allCases)
    func storedText(backend: TestBackend) async throws {
        try await Self.withStore(backend) { store in
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-S"))
            try await store.setAuthorizationKey(
                AuthorizationKeyHash(key: Self.key),
                chargePointID: "CP-S",
                pending: false
            )
            let texts = try await store.read { sql in
                try await sql.raw("SELECT * FROM chargers").all().map { row in
                    row.allColumns.map { column in
                        (try? row.decode(column: column, as: String.self)) ?? ""
                    }.joined(separator: " ")
                }
            }
            let text = texts.joined(separator: " ").lowercased()
            #expect(text.contains("hmac-sha256:"))
            #expect(!text.contains(Self.key.hex.lowercased()))
            #expect(!text.contains(Self.key.hex.lowercased().dropFirst(8).prefix(16)))
            // Unreadable stored text is an error, not "no key".
            try await store.write { sql in
                try await sql.raw("UPDATE chargers SET authorization_key_hash = 'plain-text-key'").run()
            }
            await expectStoreError(.unavailable) { _ = try await store.chargerCredentials(chargePointID: "CP-S") }
        }
    }

    /// Runs `body` with a migrated store on a new database whose default profile is `defaultSecurityProfile`.
    static func withStore(
        _ backend: TestBackend,
        defaultSecurityProfile: Int = 0,
        _ body: (RelationalStore) async throws -> Void
    ) async throws {
        let database = try await backend.makeDatabase()
        let store = try await RelationalStore(
            url: database.url,
            logger: TestBackend.logger,
            defaultSecurityProfile: defaultSecurityProfile
        )
        do {
            try await store.migrate()
            try await body(store)
        } catch {
            await store.shutdown()
            try? await database.drop()
            throw error
        }
        await store.shutdown()
        try await database.drop()
    }
}
