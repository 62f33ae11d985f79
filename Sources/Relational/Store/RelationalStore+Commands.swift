public import Foundation
import SQLKit

/// What the command endpoints record of the reservations and charging profiles they send.
/// Only a registered charger's are recorded: a command never registers a charger (only the
/// ingest, under the unknown-charger policy, does).
extension RelationalStore {
    /// Records a ReserveNow and the charger's answer; a reservation id the charger already
    /// has replaces the earlier one (as OCPP has the charger do).
    /// - Throws: `notFound` when the charger is not registered.
    public func recordReservation(
        chargePointID: String,
        reservationID: Int,
        connectorID: Int,
        idTag: String,
        parentIDTag: String?,
        expiryDate: Date,
        responseStatus: String
    ) async throws {
        let now = Date()
        try await write { sql in
            let chargerID = try await Self.requireCharger(chargePointID, .refuse, at: now, sql: sql)
            try await sql.raw(
                """
                INSERT INTO reservations (charger_id, reservation_id, connector_id, id_tag, parent_id_tag,
                    expiry_date, response_status, cancelled_at, created_at, updated_at)
                VALUES (\(bind: chargerID), \(bind: reservationID), \(bind: connectorID), \(bind: idTag),
                    \(bind: parentIDTag), \(bind: expiryDate), \(bind: responseStatus), NULL, \(bind: now), \(bind: now))
                ON CONFLICT (charger_id, reservation_id) DO UPDATE SET
                    connector_id = excluded.connector_id, id_tag = excluded.id_tag,
                    parent_id_tag = excluded.parent_id_tag, expiry_date = excluded.expiry_date,
                    response_status = excluded.response_status, cancelled_at = NULL, updated_at = excluded.updated_at
                """
            ).run()
        }
    }

    /// Marks a reservation cancelled (CancelReservation accepted). Unknown ones are ignored.
    public func recordReservationCancelled(chargePointID: String, reservationID: Int) async throws {
        let now = Date()
        try await write { sql in
            try await sql.raw(
                """
                UPDATE reservations SET cancelled_at = \(bind: now), updated_at = \(bind: now)
                WHERE reservation_id = \(bind: reservationID)
                    AND charger_id = (SELECT id FROM chargers WHERE charge_point_id = \(bind: chargePointID))
                """
            ).run()
        }
    }

    /// Records a SetChargingProfile and the charger's answer; a profile id the charger
    /// already has replaces the earlier one.
    /// - Throws: `notFound` when the charger is not registered.
    public func recordChargingProfile(
        chargePointID: String,
        connectorID: Int,
        chargingProfileID: Int,
        stackLevel: Int,
        purpose: String,
        kind: String,
        transactionID: Int?,
        profile: String,
        responseStatus: String
    ) async throws {
        let now = Date()
        try await write { sql in
            let chargerID = try await Self.requireCharger(chargePointID, .refuse, at: now, sql: sql)
            try await sql.raw(
                """
                INSERT INTO charging_profiles (charger_id, connector_id, charging_profile_id, stack_level, purpose,
                    kind, transaction_id, profile, response_status, cleared_at, created_at, updated_at)
                VALUES (\(bind: chargerID), \(bind: connectorID), \(bind: chargingProfileID), \(bind: stackLevel),
                    \(bind: purpose), \(bind: kind), \(bind: transactionID), \(bind: profile), \(bind: responseStatus),
                    NULL, \(bind: now), \(bind: now))
                ON CONFLICT (charger_id, charging_profile_id) DO UPDATE SET
                    connector_id = excluded.connector_id, stack_level = excluded.stack_level,
                    purpose = excluded.purpose, kind = excluded.kind, transaction_id = excluded.transaction_id,
                    profile = excluded.profile, response_status = excluded.response_status, cleared_at = NULL,
                    updated_at = excluded.updated_at
                """
            ).run()
        }
    }

    /// Marks the charger's profiles that a ClearChargingProfile (accepted) matched as cleared:
    /// by id when given, otherwise those matching every criterion given (none: all).
    /// - Returns: How many records were marked.
    @discardableResult
    public func recordChargingProfilesCleared(
        chargePointID: String,
        chargingProfileID: Int?,
        connectorID: Int?,
        purpose: String?,
        stackLevel: Int?
    ) async throws -> Int {
        let now = Date()
        return try await write { sql in
            let update = sql.update("charging_profiles")
                .set("cleared_at", to: now)
                .set("updated_at", to: now)
                .where("cleared_at", .is, SQLLiteral.null)
                .where(
                    SQLIdentifier("charger_id"),
                    .equal,
                    SQLGroupExpression(
                        sql.select().column("id").from("chargers").where("charge_point_id", .equal, chargePointID)
                            .query
                    )
                )
            if let chargingProfileID {
                update.where("charging_profile_id", .equal, chargingProfileID)
            } else {
                if let connectorID { update.where("connector_id", .equal, connectorID) }
                if let purpose { update.where("purpose", .equal, purpose) }
                if let stackLevel { update.where("stack_level", .equal, stackLevel) }
            }
            return try await update.returning("id").all().count
        }
    }
}
