public import Foundation
import SQLKit

extension RelationalStore {
    /// The roles a token may have (the `api_tokens.role` check).
    public static let apiTokenRoles = ["admin", "operator", "analyst", "integration"]

    /// Creates a bearer token and stores its hash.
    /// - Parameters:
    ///   - name: Who or what holds it (1 to 255 characters).
    ///   - role: One of ``apiTokenRoles``.
    ///   - companyID: The company it is scoped to, or `nil` for every company.
    ///   - expiresAt: When it stops working, or `nil` for never.
    /// - Returns: The stored record and the token itself, which nothing keeps: show it once.
    /// - Throws: ``RelationalStoreError``: `.invalidValue` for a bad name or role or an
    ///   expiry that is not in the future, `.invalidReference` for a company that does not exist.
    public func createAPIToken(
        name: String,
        role: String,
        companyID: Int64? = nil,
        expiresAt: Date? = nil
    ) async throws -> (record: APITokenRecord, token: String) {
        let now = Date()
        guard (1...255).contains(name.count) else {
            throw RelationalStoreError(code: .invalidValue, message: "a token's name is 1 to 255 characters")
        }
        guard Self.apiTokenRoles.contains(role) else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "role '\(role)' is not one of \(Self.apiTokenRoles.joined(separator: ", "))"
            )
        }
        if let expiresAt, expiresAt <= now {
            throw RelationalStoreError(code: .invalidValue, message: "the expiry must be in the future")
        }
        let token = APITokenSecret.generate()
        let hash = APITokenHash(token: token).hex
        let record = try await write { sql in
            guard
                let row = try await sql.insert(into: "api_tokens")
                    .columns("name", "role", "company_id", "token_hash", "expires_at", "created_at")
                    .values(
                        SQLBind(name),
                        SQLBind(role),
                        companyID.map { SQLBind($0) as any SQLExpression } ?? SQLLiteral.null,
                        SQLBind(hash),
                        expiresAt.map { SQLBind($0) as any SQLExpression } ?? SQLLiteral.null,
                        SQLBind(now)
                    )
                    .returning(APITokenRecord.columns.map { SQLIdentifier($0) })
                    .first()
            else { throw RelationalStoreError(code: .unavailable, message: "insert returned no row") }
            return try row.decode(model: APITokenRecord.self, with: ColumnNames.decoder)
        }
        return (record, token)
    }

    /// One page of tokens, by id; revoked and expired ones too.
    public func apiTokens(limit: Int = 100, offset: Int = 0) async throws -> Page<APITokenRecord> {
        guard (1...ListQuery.maximumLimit).contains(limit), offset >= 0 else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "limit must be in 1...\(ListQuery.maximumLimit) and offset 0 or more"
            )
        }
        return try await read { sql in
            let total =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "total")
                .from("api_tokens").first()?.decode(column: "total", as: Int.self) ?? 0
            let rows = try await sql.select().columns(APITokenRecord.columns.map { SQLIdentifier($0) })
                .from("api_tokens").orderBy("id").limit(limit).offset(offset).all()
            return Page(
                items: try rows.map { try $0.decode(model: APITokenRecord.self, with: ColumnNames.decoder) },
                total: total,
                limit: limit,
                offset: offset
            )
        }
    }

    /// The token with `id`.
    /// - Throws: ``RelationalStoreError`` `.notFound` when there is none.
    public func apiToken(id: Int64) async throws -> APITokenRecord {
        try await read { sql in
            guard
                let row = try await sql.select().columns(APITokenRecord.columns.map { SQLIdentifier($0) })
                    .from("api_tokens").where("id", .equal, id).first()
            else { throw RelationalStoreError.notFound("API token", id: id) }
            return try row.decode(model: APITokenRecord.self, with: ColumnNames.decoder)
        }
    }

    /// The token whose hash is `hash`, active or not, for authenticating a request; an
    /// active one's `last_used_at` is brought up to `now` when it is more than a minute old.
    /// - Returns: `nil` when no token has that hash.
    public func apiToken(hash: APITokenHash, usedAt now: Date = Date()) async throws -> APITokenRecord? {
        let hex = hash.hex
        let record = try await read { sql in
            try await sql.select().columns(APITokenRecord.columns.map { SQLIdentifier($0) })
                .from("api_tokens").where("token_hash", .equal, hex).first()?
                .decode(model: APITokenRecord.self, with: ColumnNames.decoder)
        }
        guard var record, record.isActive(at: now) else { return record }
        if record.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            let id = record.id
            try await write { sql in
                try await sql.update("api_tokens").set("last_used_at", to: now).where("id", .equal, id).run()
            }
            record.lastUsedAt = now
        }
        return record
    }

    /// Revokes the token with `id`: it authenticates nothing from now on. A revoked token
    /// keeps the time it was first revoked.
    /// - Returns: The token, revoked.
    /// - Throws: ``RelationalStoreError`` `.notFound` when there is none.
    @discardableResult
    public func revokeAPIToken(id: Int64) async throws -> APITokenRecord {
        let now = Date()
        return try await write { sql in
            try await sql.update("api_tokens").set("revoked_at", to: now)
                .where("id", .equal, id).where("revoked_at", .is, SQLLiteral.null).run()
            guard
                let row = try await sql.select().columns(APITokenRecord.columns.map { SQLIdentifier($0) })
                    .from("api_tokens").where("id", .equal, id).first()
            else { throw RelationalStoreError.notFound("API token", id: id) }
            return try row.decode(model: APITokenRecord.self, with: ColumnNames.decoder)
        }
    }

    /// Whether some token authenticates requests at `now` (neither revoked nor expired).
    public func hasActiveAPIToken(at now: Date = Date()) async throws -> Bool {
        try await read { sql in
            try await sql.select().column("id").from("api_tokens")
                .where("revoked_at", .is, SQLLiteral.null)
                .where {
                    $0.where("expires_at", .is, SQLLiteral.null).orWhere("expires_at", .greaterThan, SQLBind(now))
                }
                .limit(1).first() != nil
        }
    }
}
