import Foundation
import SQLKit

extension RelationalStore {
    /// Creates a row.
    /// - Returns: The row as stored, with its id and timestamps.
    /// - Throws: ``RelationalStoreError``: `.conflict` for a taken unique value,
    ///   `.invalidReference` for a reference to a missing row, `.invalidValue` for a value
    ///   the schema does not allow.
    /// - Parameter company: The company the caller is limited to: the row and the rows it
    ///   refers to must be that company's (`.invalidReference` otherwise, nothing written).
    public func create<Entity: StoredEntity>(
        _ type: Entity.Type,
        _ fields: Entity.Fields,
        company: Int64? = nil
    ) async throws -> Entity {
        let columns = try ColumnNames.encoder.encode(Entity.completing(fields, current: nil, store: self))
        let now = Date()
        return try await write { sql in
            let row = try await sql.insert(into: Entity.table)
                .columns(columns.map(\.0) + ["created_at", "updated_at"])
                .values(columns.map(\.1) + [SQLBind(now), SQLBind(now)])
                .returning(SQLLiteral.all)
                .first()
            guard let row else { throw RelationalStoreError(code: .unavailable, message: "insert returned no row") }
            let created = try row.decode(model: Entity.self, with: ColumnNames.decoder)
            if let company { try await Self.checkWritten(Entity.self, id: created.id, company: company, sql: sql) }
            return created
        }
    }

    /// The row with `id`.
    /// - Parameter company: The company the caller is limited to: another company's row is
    ///   not found.
    /// - Throws: ``RelationalStoreError`` `.notFound` when there is none.
    public func get<Entity: StoredEntity>(_ type: Entity.Type, id: Int64, company: Int64? = nil) async throws -> Entity
    {
        try await read { sql in
            let select = sql.select().column(SQLLiteral.all).from(Entity.table).where("id", .equal, id)
            if let company { select.where(Self.visible(Entity.table, company: company)) }
            guard let row = try await select.first() else {
                throw RelationalStoreError.notFound(Entity.displayName, id: id)
            }
            return try row.decode(model: Entity.self, with: ColumnNames.decoder)
        }
    }

    /// Replaces the writable columns of the row with `id` (a PUT).
    /// - Throws: ``RelationalStoreError`` as ``create(_:_:)`` does, and `.notFound`.
    public func update<Entity: StoredEntity>(
        _ type: Entity.Type,
        id: Int64,
        _ fields: Entity.Fields,
        company: Int64? = nil
    ) async throws -> Entity {
        try await modify(type, id: id, company: company) { current in current = fields }
    }

    /// Changes some writable columns of the row with `id` (a PATCH): `change` receives the
    /// current values, in the same transaction as the update; what it leaves to the store is
    /// filled in as ``StoredEntity/completing(_:current:store:)`` says.
    /// - Parameter company: The company the caller is limited to: another company's row is
    ///   not found, and the changed row must stay the company's, as ``create(_:_:company:)`` says.
    /// - Throws: ``RelationalStoreError`` as ``update(_:id:_:company:)`` does, or what `change` throws.
    public func modify<Entity: StoredEntity>(
        _ type: Entity.Type,
        id: Int64,
        company: Int64? = nil,
        _ change: @escaping @Sendable (inout Entity.Fields) throws -> Void
    ) async throws -> Entity {
        let dialect = self.dialect
        return try await write { sql in
            let select = sql.select().column(SQLLiteral.all).from(Entity.table).where("id", .equal, id)
            if let company { select.where(Self.visible(Entity.table, company: company)) }
            if dialect == .postgres { select.for(.update) }
            guard let row = try await select.first() else {
                throw RelationalStoreError.notFound(Entity.displayName, id: id)
            }
            let current = try row.decode(model: Entity.Fields.self, with: ColumnNames.decoder)
            var fields = current
            try change(&fields)
            fields = Entity.completing(fields, current: current, store: self)
            let update = sql.update(Entity.table)
            for (column, value) in try ColumnNames.encoder.encode(fields) {
                update.set(SQLIdentifier(column), to: value)
            }
            update.set(SQLIdentifier("updated_at"), to: SQLBind(Date()))
            guard let updated = try await update.where("id", .equal, id).returning(SQLLiteral.all).first() else {
                throw RelationalStoreError.notFound(Entity.displayName, id: id)
            }
            if let company { try await Self.checkWritten(Entity.self, id: id, company: company, sql: sql) }
            return try updated.decode(model: Entity.self, with: ColumnNames.decoder)
        }
    }

    /// The writable columns of the row with `id`.
    /// - Throws: ``RelationalStoreError`` `.notFound` when there is none.
    public func fields<Entity: StoredEntity>(of type: Entity.Type, id: Int64) async throws -> Entity.Fields {
        try await read { sql in
            guard
                let row = try await sql.select().column(SQLLiteral.all).from(Entity.table).where("id", .equal, id)
                    .first()
            else { throw RelationalStoreError.notFound(Entity.displayName, id: id) }
            return try row.decode(model: Entity.Fields.self, with: ColumnNames.decoder)
        }
    }

    /// Deletes the row with `id`.
    /// - Parameter cascade: Also delete the rows that cannot exist without it (a company's
    ///   sites and drivers, a charger's connectors and sessions, ...) and clear optional
    ///   references to it (a deleted site's chargers stay, without a site). Without it, a
    ///   row that others refer to is not deleted.
    /// - Parameter company: The company the caller is limited to: another company's row is
    ///   not found.
    /// - Throws: ``RelationalStoreError`` `.notFound`, or `.stillReferenced` without `cascade`.
    public func delete<Entity: StoredEntity>(
        _ type: Entity.Type,
        id: Int64,
        cascade: Bool = false,
        company: Int64? = nil
    ) async throws {
        try await write(.delete) { sql in
            if let company { try await Self.checkVisible(Entity.self, id: id, company: company, sql: sql) }
            if cascade {
                try await Self.deleteDependents(of: Entity.table, ids: [id], sql: sql)
            }
            let deleted = try await sql.delete(from: Entity.table).where("id", .equal, id).returning("id").all()
            guard !deleted.isEmpty else { throw RelationalStoreError.notFound(Entity.displayName, id: id) }
        }
    }

    /// Who refers to whom: for each table, the tables with a foreign key to it, the column,
    /// and whether the reference is optional (cleared on cascade) or required (deleted).
    static let references: [String: [(table: String, column: String, optional: Bool)]] = [
        "companies": [
            ("sites", "company_id", false), ("drivers", "company_id", false), ("rfid_cards", "company_id", false),
        ],
        "sites": [("chargers", "site_id", true)],
        "chargers": [
            ("connectors", "charger_id", false), ("charge_sessions", "charger_id", false),
            ("unmatched_stop_transactions", "charger_id", false), ("reservations", "charger_id", false),
            ("charging_profiles", "charger_id", false),
        ],
        "drivers": [("rfid_cards", "driver_id", true), ("charge_sessions", "driver_id", true)],
    ]

    private static func deleteDependents(of table: String, ids: [Int64], sql: any SQLDatabase) async throws {
        guard !ids.isEmpty else { return }
        for reference in references[table] ?? [] {
            if reference.optional {
                try await sql.update(reference.table)
                    .set(SQLIdentifier(reference.column), to: SQLLiteral.null)
                    .where(SQLIdentifier(reference.column), .in, SQLBind.group(ids))
                    .run()
            } else {
                let children = try await sql.select().column("id").from(reference.table)
                    .where(SQLIdentifier(reference.column), .in, SQLBind.group(ids))
                    .all().map { try $0.decode(column: "id", as: Int64.self) }
                try await deleteDependents(of: reference.table, ids: children, sql: sql)
                if !children.isEmpty {
                    try await sql.delete(from: reference.table).where("id", .in, SQLBind.group(children)).run()
                }
            }
        }
    }

    /// One page of rows.
    /// - Throws: ``RelationalStoreError`` `.invalidValue` for a bad limit, offset, or an
    ///   unknown filter or sort column.
    /// - Parameter company: The company the caller is limited to: only its rows are listed
    ///   and counted.
    public func list<Entity: StoredEntity>(
        _ type: Entity.Type,
        _ query: ListQuery = ListQuery(),
        company: Int64? = nil
    ) async throws
        -> Page<Entity>
    {
        guard (1...ListQuery.maximumLimit).contains(query.limit) else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "limit must be between 1 and \(ListQuery.maximumLimit), got \(query.limit)"
            )
        }
        guard query.offset >= 0 else {
            throw RelationalStoreError(code: .invalidValue, message: "offset must not be negative, got \(query.offset)")
        }
        return try await read { sql in
            let count = sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "total")
                .from(Entity.table)
            let select = sql.select().column(SQLLiteral.all).from(Entity.table)
            if let company {
                count.where(Self.visible(Entity.table, company: company))
                select.where(Self.visible(Entity.table, company: company))
            }
            for filter in query.filters {
                let comparison: SQLBinaryOperator
                switch filter.comparison {
                case .equal: comparison = .equal
                case .atLeast: comparison = .greaterThanOrEqual
                case .before: comparison = .lessThan
                }
                if filter.value == .null {
                    count.where(SQLIdentifier(filter.column), .is, SQLLiteral.null)
                    select.where(SQLIdentifier(filter.column), .is, SQLLiteral.null)
                } else {
                    count.where(SQLIdentifier(filter.column), comparison, SQLBind(filter.value))
                    select.where(SQLIdentifier(filter.column), comparison, SQLBind(filter.value))
                }
            }
            let total = try await count.first()?.decode(column: "total", as: Int.self) ?? 0
            let rows =
                try await select
                .orderBy(query.sortColumn, query.ascending ? .ascending : .descending)
                .orderBy("id", query.ascending ? .ascending : .descending)
                .limit(query.limit).offset(query.offset)
                .all()
            return Page(
                items: try rows.map { try $0.decode(model: Entity.self, with: ColumnNames.decoder) },
                total: total,
                limit: query.limit,
                offset: query.offset
            )
        }
    }
}
