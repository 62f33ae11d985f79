import Foundation
import SQLKit

extension RelationalStore {
    /// What the WebSocket upgrade authenticates charger `chargePointID` with: its registration
    /// status, security profile and key hashes, in one query on the unique charge point id.
    /// - Returns: `nil` when no charger has that id.
    /// - Throws: ``RelationalStoreError``; `.unavailable` also when a stored hash is unreadable.
    public func chargerCredentials(chargePointID: String) async throws -> ChargerCredentials? {
        try await read { sql in
            guard
                let row = try await sql.select()
                    .columns(Self.credentialColumns)
                    .from("chargers")
                    .where("charge_point_id", .equal, chargePointID)
                    .first()
            else { return nil }
            return try Self.credentials(of: row, chargePointID: chargePointID)
        }
    }

    /// The credentials of many chargers at once (a reconnect storm's upgrades), a few hundred
    /// ids per query; each is read when the call is made, as ``chargerCredentials(chargePointID:)``
    /// reads it, so a rotated or revoked key is never answered from an older read.
    /// - Returns: Per charger the database knows, its credentials, or `.unavailable` when a
    ///   stored hash of it is unreadable; an id the database does not know is absent.
    /// - Throws: ``RelationalStoreError`` when the database fails.
    public func chargerCredentials(
        chargePointIDs: [String]
    ) async throws -> [String: Result<ChargerCredentials, RelationalStoreError>] {
        let unique = Array(Set(chargePointIDs))
        guard !unique.isEmpty else { return [:] }
        return try await read { sql in
            var found: [String: Result<ChargerCredentials, RelationalStoreError>] = [:]
            for chunk in unique.chunked(into: Self.rowsPerStatement) {
                let rows = try await sql.select()
                    .columns(Self.credentialColumns + ["charge_point_id"])
                    .from("chargers")
                    .where("charge_point_id", .in, SQLBind.group(Array(chunk)))
                    .all()
                for row in rows {
                    let chargePointID = try row.decode(column: "charge_point_id", as: String.self)
                    do {
                        found[chargePointID] = .success(try Self.credentials(of: row, chargePointID: chargePointID))
                    } catch {
                        found[chargePointID] = .failure(RelationalStoreError.translating(error, operation: .read))
                    }
                }
            }
            return found
        }
    }

    private static let credentialColumns = [
        "registration_status", "security_profile", "authorization_key_hash", "pending_authorization_key_hash",
    ]

    private static func credentials(of row: any SQLRow, chargePointID: String) throws -> ChargerCredentials {
        func hash(_ column: String) throws -> AuthorizationKeyHash? {
            guard let text = try row.decode(column: column, as: String?.self) else { return nil }
            guard let hash = AuthorizationKeyHash(encoded: text) else {
                throw RelationalStoreError(
                    code: .unavailable,
                    message: "the \(column) of charger '\(chargePointID)' is not a stored key hash"
                )
            }
            return hash
        }
        return ChargerCredentials(
            registrationStatus: try row.decode(column: "registration_status", as: String.self),
            securityProfile: try row.decode(column: "security_profile", as: Int.self),
            current: try hash("authorization_key_hash"),
            pending: try hash("pending_authorization_key_hash")
        )
    }

    /// Stores the hash of a charger's new authorization key.
    /// - Parameters:
    ///   - hash: The new key's hash.
    ///   - chargePointID: The charger.
    ///   - pending: `false`: it replaces the current key and any pending one (the charger is
    ///     not connected, or is being given a key it has). `true`: the charger accepted it
    ///     (ChangeConfiguration) but still authenticates with the current one; both are
    ///     accepted until it uses the new key (``promotePendingAuthorizationKey(chargePointID:ifPending:)``).
    /// - Throws: ``RelationalStoreError`` `.notFound` when no charger has that id.
    public func setAuthorizationKey(_ hash: AuthorizationKeyHash, chargePointID: String, pending: Bool) async throws {
        let encoded = hash.encoded
        let now = Date()
        try await write { sql in
            let update = sql.update("chargers")
            if pending {
                update.set("pending_authorization_key_hash", to: encoded)
            } else {
                update.set("authorization_key_hash", to: encoded)
                    .set("pending_authorization_key_hash", to: SQLLiteral.null)
            }
            let updated = try await update.set("updated_at", to: now)
                .where("charge_point_id", .equal, chargePointID)
                .returning("id").all()
            guard !updated.isEmpty else {
                throw RelationalStoreError(
                    code: .notFound,
                    message: "charge point '\(chargePointID)' is not registered"
                )
            }
        }
    }

    /// Makes the pending key the current one (the old key stops working): the charger has
    /// authenticated with it.
    /// - Parameter expected: Promote only if the pending key is still this one (the key the
    ///   charger authenticated with; another may have been set meanwhile). `nil`: whichever.
    /// - Returns: Whether a pending key was promoted.
    @discardableResult
    public func promotePendingAuthorizationKey(
        chargePointID: String,
        ifPending expected: AuthorizationKeyHash? = nil
    ) async throws -> Bool {
        let now = Date()
        return try await write { sql in
            let update = sql.update("chargers")
                .set("authorization_key_hash", to: SQLIdentifier("pending_authorization_key_hash"))
                .set("pending_authorization_key_hash", to: SQLLiteral.null)
                .set("updated_at", to: now)
                .where("charge_point_id", .equal, chargePointID)
            if let expected {
                update.where("pending_authorization_key_hash", .equal, expected.encoded)
            } else {
                update.where("pending_authorization_key_hash", .isNot, SQLLiteral.null)
            }
            return !(try await update.returning("id").all()).isEmpty
        }
    }

    /// Forgets the pending key, if any: only the current one works.
    /// - Returns: Whether there was one.
    @discardableResult
    public func clearPendingAuthorizationKey(chargePointID: String) async throws -> Bool {
        let now = Date()
        return try await write { sql in
            !(try await sql.update("chargers")
                .set("pending_authorization_key_hash", to: SQLLiteral.null)
                .set("updated_at", to: now)
                .where("charge_point_id", .equal, chargePointID)
                .where("pending_authorization_key_hash", .isNot, SQLLiteral.null)
                .returning("id").all()).isEmpty
        }
    }
}
