public import Foundation
import SQLKit

extension RelationalStore {
    /// Appends `entry` to the audit log, in a transaction of its own; returns once it is
    /// committed.
    /// - Returns: The id the entry was given (ids grow in append order).
    /// - Throws: ``RelationalStoreError``: `.unavailable` when the database fails,
    ///   `.invalidValue` for a status outside 100...599.
    @discardableResult
    public func appendAudit(_ entry: AuditEntry) async throws -> Int64 {
        try await write { sql in
            guard
                let row = try await sql.insert(into: "audit_log")
                    .columns(
                        "at",
                        "actor",
                        "actor_token_id",
                        "role",
                        "method",
                        "route",
                        "path",
                        "target",
                        "status",
                        "detail"
                    )
                    .values(
                        SQLBind(entry.at),
                        SQLBind(entry.actor),
                        Self.bindOrNull(entry.actorTokenID),
                        Self.bindOrNull(entry.role),
                        SQLBind(entry.method),
                        SQLBind(entry.route),
                        SQLBind(entry.path),
                        Self.bindOrNull(entry.target),
                        SQLBind(entry.status),
                        Self.bindOrNull(entry.detail)
                    )
                    .returning("id")
                    .first()
            else { throw RelationalStoreError(code: .unavailable, message: "insert returned no row") }
            return try row.decode(column: "id", as: Int64.self)
        }
    }

    /// One page of the audit log, in append order (by id).
    /// - Parameters:
    ///   - from: Only entries at or after this instant.
    ///   - to: Only entries before this instant (none when it is not after `from`).
    ///   - cursor: Start after the page that ended here (``AuditPage/nextCursor``).
    ///   - limit: Entries per page, 1 to ``ListQuery/maximumLimit``.
    /// - Throws: ``RelationalStoreError``: `.invalidValue` for a bad limit.
    public func auditLog(
        from: Date? = nil,
        to: Date? = nil,
        cursor: AuditCursor? = nil,
        limit: Int = 100
    ) async throws -> AuditPage {
        guard (1...ListQuery.maximumLimit).contains(limit) else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "limit must be between 1 and \(ListQuery.maximumLimit), got \(limit)"
            )
        }
        if let from, let to, from >= to { return AuditPage(entries: [], nextCursor: nil) }
        return try await read { sql in
            let select = sql.select().column(SQLLiteral.all).from("audit_log")
            if let from { select.where("at", .greaterThanOrEqual, SQLBind(from)) }
            if let to { select.where("at", .lessThan, SQLBind(to)) }
            if let cursor { select.where("id", .greaterThan, SQLBind(cursor.afterID)) }
            // One more than a page says whether there is a next one.
            let rows = try await select.orderBy("id", .ascending).limit(limit + 1).all()
            var entries = try rows.map { try $0.decode(model: AuditEntry.self, with: ColumnNames.decoder) }
            var next: AuditCursor?
            if entries.count > limit {
                entries.removeLast(entries.count - limit)
                next = entries.last.map { AuditCursor(afterID: $0.id) }
            }
            return AuditPage(entries: entries, nextCursor: next)
        }
    }

    private static func bindOrNull(_ value: (some Encodable & Sendable)?) -> any SQLExpression {
        value.map { SQLBind($0) } ?? SQLLiteral.null
    }
}
