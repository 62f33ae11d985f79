public import Foundation
import SQLKit

/// One BootNotification to record: what ``RelationalStore/bootCharger(chargePointID:boot:unknownCharger:at:)``
/// takes, as a value a batch can hold.
public struct ChargerBoot: Sendable, Hashable {
    public var chargePointID: String
    public var boot: ChargerBootInfo
    /// What to do when the database does not know the charger.
    public var unknownCharger: UnknownChargerRule
    public var time: Date

    public init(chargePointID: String, boot: ChargerBootInfo, unknownCharger: UnknownChargerRule, time: Date) {
        self.chargePointID = chargePointID
        self.boot = boot
        self.unknownCharger = unknownCharger
        self.time = time
    }
}

extension RelationalStore {
    /// Records many BootNotifications in one transaction (one commit, one sync on SQLite),
    /// each as ``bootCharger(chargePointID:boot:unknownCharger:at:)`` records it; returns once
    /// the transaction is committed.
    ///
    /// A boot whose values the database refuses does not fail the others: the batch is then
    /// run again one boot per transaction, so each gets its own outcome. When the database
    /// fails, every boot gets that failure.
    /// - Returns: Per boot, in order: the charger's registration status (`nil`: unknown and
    ///   `refuse`), or why it was not recorded.
    public func bootChargers(_ boots: [ChargerBoot]) async -> [Result<String?, RelationalStoreError>] {
        guard !boots.isEmpty else { return [] }
        let profile = defaultSecurityProfile
        let dialect = self.dialect
        do {
            let statuses = try await write { sql in
                try await Self.record(batch: boots, securityProfile: profile, dialect: dialect, sql: sql)
            }
            return statuses.map { .success($0) }
        } catch let error as RelationalStoreError
            where boots.count > 1 && (error.code == .invalidValue || error.code == .invalidReference)
        {
            var results: [Result<String?, RelationalStoreError>] = []
            results.reserveCapacity(boots.count)
            for boot in boots {
                do {
                    results.append(
                        .success(
                            try await write { sql in try await Self.record(boot, securityProfile: profile, sql: sql) }
                        )
                    )
                } catch {
                    results.append(.failure(RelationalStoreError.translating(error, operation: .write)))
                }
            }
            return results
        } catch {
            return Array(
                repeating: .failure(RelationalStoreError.translating(error, operation: .write)),
                count: boots.count
            )
        }
    }

    /// The most chargers in one statement of a batch (16 values each, far below the bind limits).
    static let bootsPerStatement = 250

    /// Records `boots` in the open transaction `sql` with two statements per
    /// ``bootsPerStatement`` chargers (which of them exist, then one multi-row upsert), not
    /// one per boot: each statement costs a round trip to the database's thread or server.
    /// A charger booting twice in the batch is recorded with its later boot; it is registered
    /// when any of its boots may register it.
    /// - Returns: Per boot, in order: the charger's registration status, or `nil` when it is
    ///   unknown and refused.
    private static func record(
        batch boots: [ChargerBoot],
        securityProfile: Int,
        dialect: SQLDialectKind,
        sql: any SQLDatabase
    ) async throws -> [String?] {
        var latest: [String: (boot: ChargerBoot, registers: String?)] = [:]
        for boot in boots {
            var registers = latest[boot.chargePointID]?.registers
            if case .register(let status) = boot.unknownCharger { registers = status }
            latest[boot.chargePointID] = (boot, registers)
        }
        // PostgreSQL: the rows stay locked until the commit, so a charger deleted meanwhile
        // cannot be inserted again by a boot whose rule refuses unknown chargers. Batches
        // running side by side lock in the same (sorted) order, so they cannot deadlock.
        var stored: [String: String] = [:]
        for chunk in latest.keys.sorted().chunked(into: bootsPerStatement) {
            let query = sql.select().column("charge_point_id").from("chargers")
                .where("charge_point_id", .in, SQLBind.group(Array(chunk)))
            if dialect == .postgres { query.for(.update) }
            let existing = Set(try await query.all().map { try $0.decode(column: "charge_point_id", as: String.self) })
            let values = chunk.compactMap { id -> SQLQueryString? in
                guard let entry = latest[id], existing.contains(id) || entry.registers != nil else { return nil }
                let info = entry.boot.boot
                let time = entry.boot.time
                // An existing charger keeps its status (the upsert does not set it).
                let status = entry.registers ?? "Accepted"
                return Self.bootValues(id, info, status: status, securityProfile: securityProfile, at: time)
            }
            guard !values.isEmpty else { continue }
            let rows = try await sql.raw(
                Self.bootUpsert(values.joined(separator: ", "), returning: "charge_point_id, registration_status")
            ).all()
            for row in rows {
                stored[try row.decode(column: "charge_point_id", as: String.self)] = try row.decode(
                    column: "registration_status",
                    as: String.self
                )
            }
        }
        return boots.map { stored[$0.chargePointID] }
    }

    /// Records one boot in the open transaction `sql`: the charger's registration status, or
    /// `nil` when it is unknown and its rule refuses it.
    private static func record(_ boot: ChargerBoot, securityProfile: Int, sql: any SQLDatabase) async throws -> String?
    {
        let info = boot.boot
        let time = boot.time
        let row: (any SQLRow)?
        switch boot.unknownCharger {
        case .refuse:
            row = try await sql.raw(
                """
                UPDATE chargers SET vendor = \(bind: info.vendor), model = \(bind: info.model),
                    charge_point_serial_number = \(bind: info.chargePointSerialNumber),
                    charge_box_serial_number = \(bind: info.chargeBoxSerialNumber),
                    firmware_version = \(bind: info.firmwareVersion), iccid = \(bind: info.iccid),
                    imsi = \(bind: info.imsi), meter_type = \(bind: info.meterType),
                    meter_serial_number = \(bind: info.meterSerialNumber), last_boot_at = \(bind: time),
                    last_heartbeat_at = \(bind: time), updated_at = \(bind: time)
                WHERE charge_point_id = \(bind: boot.chargePointID)
                RETURNING registration_status
                """
            ).first()
        case .register(let status):
            row = try await sql.raw(
                Self.bootUpsert(
                    Self.bootValues(
                        boot.chargePointID,
                        info,
                        status: status,
                        securityProfile: securityProfile,
                        at: time
                    ),
                    returning: "registration_status"
                )
            ).first()
        }
        return try row?.decode(column: "registration_status", as: String.self)
    }
}

extension RelationalStore {
    /// One boot's row for ``bootUpsert(_:returning:)``: the charger's OCPP identity, what its
    /// BootNotification says, the status and profile it gets when new, and the boot's time.
    static func bootValues(
        _ chargePointID: String,
        _ info: ChargerBootInfo,
        status: String,
        securityProfile: Int,
        at time: Date
    ) -> SQLQueryString {
        """
        (\(bind: chargePointID), \(bind: info.vendor), \(bind: info.model), \(bind: info.chargePointSerialNumber),
        \(bind: info.chargeBoxSerialNumber), \(bind: info.firmwareVersion), \(bind: info.iccid),
        \(bind: info.imsi), \(bind: info.meterType), \(bind: info.meterSerialNumber), \(bind: status),
        \(bind: securityProfile), \(bind: time), \(bind: time), \(bind: time), \(bind: time))
        """
    }

    /// Inserts the boots `values` (``bootValues(_:_:status:securityProfile:at:)``) or, for a
    /// charger already there, updates what a boot says and its times: an existing charger
    /// keeps its registration status and security profile.
    static func bootUpsert(_ values: SQLQueryString, returning columns: String) -> SQLQueryString {
        """
        INSERT INTO chargers (charge_point_id, vendor, model, charge_point_serial_number,
            charge_box_serial_number, firmware_version, iccid, imsi, meter_type, meter_serial_number,
            registration_status, security_profile, last_boot_at, last_heartbeat_at, created_at, updated_at)
        VALUES \(values)
        ON CONFLICT (charge_point_id) DO UPDATE SET
            vendor = excluded.vendor, model = excluded.model,
            charge_point_serial_number = excluded.charge_point_serial_number,
            charge_box_serial_number = excluded.charge_box_serial_number,
            firmware_version = excluded.firmware_version, iccid = excluded.iccid, imsi = excluded.imsi,
            meter_type = excluded.meter_type, meter_serial_number = excluded.meter_serial_number,
            last_boot_at = excluded.last_boot_at, last_heartbeat_at = excluded.last_heartbeat_at,
            updated_at = excluded.updated_at
        RETURNING \(unsafeRaw: columns)
        """
    }
}
