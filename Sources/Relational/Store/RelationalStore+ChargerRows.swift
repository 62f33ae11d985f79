import Foundation
import SQLKit

/// The chargers' rows as the OCPP paths need them: found or registered in batches, or
/// required to exist.
extension RelationalStore {
    /// Rows per multi-row statement: far below SQLite's and PostgreSQL's bind limits.
    static let rowsPerStatement = 500

    /// The ids of the chargers named in `rules`: the unknown ones are registered with the
    /// status their rule gives and `securityProfile`, or left out when it refuses them.
    static func ensureChargers(
        _ rules: [String: UnknownChargerRule],
        securityProfile: Int,
        at time: Date,
        sql: any SQLDatabase
    ) async throws
        -> [String: Int64]
    {
        var ids: [String: Int64] = [:]
        for chunk in rules.keys.sorted().chunked(into: rowsPerStatement) {
            let values = chunk.compactMap { chargePointID -> SQLQueryString? in
                guard case .register(let status) = rules[chargePointID] else { return nil }
                return
                    "(\(bind: chargePointID), \(bind: status), \(bind: securityProfile), \(bind: time), \(bind: time))"
            }
            if !values.isEmpty {
                try await sql.raw(
                    """
                    INSERT INTO chargers (charge_point_id, registration_status, security_profile, created_at, updated_at)
                    VALUES \(values.joined(separator: ", "))
                    ON CONFLICT (charge_point_id) DO NOTHING
                    """
                ).run()
            }
            let rows = try await sql.select().columns("id", "charge_point_id").from("chargers")
                .where("charge_point_id", .in, SQLBind.group(Array(chunk))).all()
            for row in rows {
                ids[try row.decode(column: "charge_point_id", as: String.self)] = try row.decode(
                    column: "id",
                    as: Int64.self
                )
            }
        }
        return ids
    }

    /// The id of the charger `chargePointID`; an unknown one is registered with the status
    /// `rule` gives and `securityProfile`, or `nil` when it refuses it.
    static func ensureCharger(
        _ chargePointID: String,
        _ rule: UnknownChargerRule,
        securityProfile: Int,
        at time: Date,
        sql: any SQLDatabase
    ) async throws -> Int64? {
        if let row = try await sql.select().column("id").from("chargers").where(
            "charge_point_id",
            .equal,
            chargePointID
        )
        .first() {
            return try row.decode(column: "id", as: Int64.self)
        }
        guard case .register(let status) = rule else { return nil }
        let row = try await sql.raw(
            """
            INSERT INTO chargers (charge_point_id, registration_status, security_profile, created_at, updated_at)
            VALUES (\(bind: chargePointID), \(bind: status), \(bind: securityProfile), \(bind: time), \(bind: time))
            ON CONFLICT (charge_point_id) DO UPDATE SET updated_at = chargers.updated_at
            RETURNING id
            """
        ).first()
        return try row!.decode(column: "id", as: Int64.self)
    }

    /// The id of the charger `chargePointID` as ``ensureCharger(_:_:securityProfile:at:sql:)``
    /// gives it. A caller whose `rule` may register passes the store's default profile
    /// (`securityProfile` matters only then).
    /// - Throws: `notFound` when the charger is unknown and `rule` refuses it.
    static func requireCharger(
        _ chargePointID: String,
        _ rule: UnknownChargerRule,
        securityProfile: Int = 0,
        at time: Date,
        sql: any SQLDatabase
    ) async throws -> Int64 {
        guard
            let id = try await ensureCharger(chargePointID, rule, securityProfile: securityProfile, at: time, sql: sql)
        else {
            throw RelationalStoreError(code: .notFound, message: "charge point '\(chargePointID)' is not registered")
        }
        return id
    }
}

extension Array {
    func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
