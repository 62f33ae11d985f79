import SQLKit

/// Company tenants: which rows a caller limited to one company sees.
///
/// A company's rows are the company itself, its sites, the chargers at those sites, and
/// everything of those chargers (connectors, sessions, reservations, charging profiles),
/// its drivers and its RFID cards. A charger without a site and a card without a company
/// belong to no company: only callers unlimited to a company see them.
extension RelationalStore {
    /// The chargers of company `company`, as a subquery of their ids.
    private static func companyChargers(_ company: Int64) -> SQLQueryString {
        """
        SELECT chargers.id FROM chargers JOIN sites ON sites.id = chargers.site_id \
        WHERE sites.company_id = \(bind: company)
        """
    }

    /// The condition a row of `table` meets when it belongs to company `company`, on the
    /// table's own columns (qualified by its name); `nil` for a table the companies do not
    /// divide (a caller limited to a company sees none of its rows).
    static func tenantCondition(table: String, company: Int64) -> SQLQueryString? {
        switch table {
        case "companies": return "companies.id = \(bind: company)"
        case "sites", "drivers", "rfid_cards": return "\(unsafeRaw: table).company_id = \(bind: company)"
        case "chargers": return "chargers.site_id IN (SELECT id FROM sites WHERE company_id = \(bind: company))"
        case "connectors", "charge_sessions", "reservations", "charging_profiles", "unmatched_stop_transactions":
            return "\(unsafeRaw: table).charger_id IN (\(companyChargers(company)))"
        default: return nil
        }
    }

    /// The references of a table's rows that may name another company's row (beyond the one
    /// its own condition already follows): column and referenced table.
    static let tenantReferences: [String: [(column: String, table: String)]] = [
        "rfid_cards": [("driver_id", "drivers")],
        "charge_sessions": [("driver_id", "drivers")],
    ]

    /// `condition` for `table` limited to `company`, or a condition no row meets.
    static func visible(_ table: String, company: Int64) -> SQLQueryString {
        tenantCondition(table: table, company: company) ?? "1 = 0"
    }

    /// Throws `.notFound` unless the row `id` of `Entity` exists and belongs to `company`.
    static func checkVisible<Entity: StoredEntity>(
        _ type: Entity.Type,
        id: Int64,
        company: Int64,
        sql: any SQLDatabase
    ) async throws {
        let row = try await sql.select().column("id").from(Entity.table)
            .where("id", .equal, id)
            .where(visible(Entity.table, company: company))
            .first()
        guard row != nil else { throw RelationalStoreError.notFound(Entity.displayName, id: id) }
    }

    /// After a write by a caller limited to `company`: throws `.invalidReference` (and so
    /// rolls the write back) unless the row and every row it refers to belong to the company.
    /// The error reads as a reference to a row that does not exist, which is what another
    /// company's row is to the caller.
    static func checkWritten<Entity: StoredEntity>(
        _ type: Entity.Type,
        id: Int64,
        company: Int64,
        sql: any SQLDatabase
    ) async throws {
        let references = (Entity.parentReference.map { [$0] } ?? []) + (tenantReferences[Entity.table] ?? [])
        for reference in references {
            let row = try await sql.select().column(SQLIdentifier(reference.column), as: "reference")
                .from(Entity.table).where("id", .equal, id).first()
            guard let value = try row?.decode(column: "reference", as: Int64?.self) else { continue }
            let found = try await sql.select().column("id").from(reference.table)
                .where("id", .equal, value)
                .where(visible(reference.table, company: company))
                .first()
            guard found != nil else {
                throw RelationalStoreError(
                    code: .invalidReference,
                    message: "refers to a row that does not exist: \(reference.column) \(value)"
                )
            }
        }
        let own = try await sql.select().column("id").from(Entity.table)
            .where("id", .equal, id)
            .where(visible(Entity.table, company: company))
            .first()
        guard own != nil else {
            let parent = Entity.parentReference.map { " (\($0.column) must name one of them)" } ?? ""
            throw RelationalStoreError(
                code: .invalidReference,
                message: "a caller limited to company \(company) writes only its company's rows\(parent)"
            )
        }
    }

    /// Whether the charger with OCPP identity `chargePointID` belongs to `company`.
    public func chargePointBelongs(_ chargePointID: String, to company: Int64) async throws -> Bool {
        try await read { sql in
            try await sql.select().column("id").from("chargers")
                .where("charge_point_id", .equal, chargePointID)
                .where(Self.visible("chargers", company: company))
                .first() != nil
        }
    }

    /// The OCPP identities of company `company`'s chargers.
    public func chargePointIDs(of company: Int64) async throws -> Set<String> {
        try await read { sql in
            let rows = try await sql.select().column("charge_point_id").from("chargers")
                .where(Self.visible("chargers", company: company))
                .all()
            return Set(try rows.map { try $0.decode(column: "charge_point_id", as: String.self) })
        }
    }
}

extension StoredEntity {
    /// The reference that places a row in a company (the column and the table it names):
    /// a site's company, a charger's site, a connector's charger, ...; `nil` for a company.
    static var parentReference: (column: String, table: String)? {
        switch table {
        case "sites", "drivers", "rfid_cards": return ("company_id", "companies")
        case "chargers": return ("site_id", "sites")
        case "connectors", "charge_sessions", "reservations", "charging_profiles", "unmatched_stop_transactions":
            return ("charger_id", "chargers")
        default: return nil
        }
    }
}

extension RelationalStore {
    /// The OCPP ids of the chargers at site `site`, or of every charger at a site of company
    /// `company`, in one read (a site's or a company's load curve sums their series).
    public func chargePointIDs(site: Int64) async throws -> [String] {
        try await chargePointIDs("SELECT charge_point_id FROM chargers WHERE site_id = \(bind: site)")
    }

    /// See ``chargePointIDs(site:)``.
    public func chargePointIDs(company: Int64) async throws -> [String] {
        try await chargePointIDs(
            """
            SELECT chargers.charge_point_id FROM chargers JOIN sites ON sites.id = chargers.site_id \
            WHERE sites.company_id = \(bind: company)
            """
        )
    }

    /// The OCPP ids of every charger (an administrator's fleet).
    public func allChargePointIDs() async throws -> Set<String> {
        Set(try await chargePointIDs("SELECT charge_point_id FROM chargers"))
    }

    private func chargePointIDs(_ query: SQLQueryString) async throws -> [String] {
        try await read { sql in
            try await sql.raw(query).all().map { try $0.decode(column: "charge_point_id", as: String.self) }
        }
    }
}
