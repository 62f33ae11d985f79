public import Foundation
import SQLKit

/// What a BootNotification says about a charger.
public struct ChargerBootInfo: Sendable, Hashable {
    public var vendor: String
    public var model: String
    public var chargePointSerialNumber: String?
    public var chargeBoxSerialNumber: String?
    public var firmwareVersion: String?
    public var iccid: String?
    public var imsi: String?
    public var meterType: String?
    public var meterSerialNumber: String?

    public init(
        vendor: String,
        model: String,
        chargePointSerialNumber: String? = nil,
        chargeBoxSerialNumber: String? = nil,
        firmwareVersion: String? = nil,
        iccid: String? = nil,
        imsi: String? = nil,
        meterType: String? = nil,
        meterSerialNumber: String? = nil
    ) {
        self.vendor = vendor
        self.model = model
        self.chargePointSerialNumber = chargePointSerialNumber
        self.chargeBoxSerialNumber = chargeBoxSerialNumber
        self.firmwareVersion = firmwareVersion
        self.iccid = iccid
        self.imsi = imsi
        self.meterType = meterType
        self.meterSerialNumber = meterSerialNumber
    }
}

/// A StartTransaction as the store records it.
public struct SessionStart: Sendable, Hashable {
    public var chargePointID: String
    public var connectorID: Int
    public var idTag: String
    public var meterStart: Int64
    public var timestamp: Date
    public var reservationID: Int?
    /// What to do when the database does not know the charger.
    public var unknownCharger: UnknownChargerRule

    public init(
        chargePointID: String,
        connectorID: Int,
        idTag: String,
        meterStart: Int64,
        timestamp: Date,
        reservationID: Int? = nil,
        unknownCharger: UnknownChargerRule = .refuse
    ) {
        self.chargePointID = chargePointID
        self.connectorID = connectorID
        self.idTag = idTag
        self.meterStart = meterStart
        self.timestamp = timestamp
        self.reservationID = reservationID
        self.unknownCharger = unknownCharger
    }
}

/// A StopTransaction as the store records it.
public struct SessionStop: Sendable, Hashable {
    public var chargePointID: String
    public var transactionID: Int
    public var idTag: String?
    public var meterStop: Int64
    public var timestamp: Date
    public var reason: String?
    /// What to do when the database does not know the charger.
    public var unknownCharger: UnknownChargerRule

    public init(
        chargePointID: String,
        transactionID: Int,
        idTag: String? = nil,
        meterStop: Int64,
        timestamp: Date,
        reason: String? = nil,
        unknownCharger: UnknownChargerRule = .refuse
    ) {
        self.chargePointID = chargePointID
        self.transactionID = transactionID
        self.idTag = idTag
        self.meterStop = meterStop
        self.timestamp = timestamp
        self.reason = reason
        self.unknownCharger = unknownCharger
    }
}

/// What became of a StopTransaction.
public enum SessionStopOutcome: Sendable, Hashable {
    /// The session was closed (or had been, by an identical earlier stop).
    case stopped(ChargeSession)
    /// No session has that transactionId on that charger; the stop was recorded as unmatched.
    case unknownTransactionRecorded
}

/// A connector's status, as a StatusNotification reports it.
public struct ConnectorStatusUpdate: Sendable, Hashable {
    public var chargePointID: String
    public var connectorID: Int
    public var status: String
    public var errorCode: String
    public var info: String?
    public var vendorID: String?
    public var vendorErrorCode: String?
    public var timestamp: Date
    /// What to do when the database does not know the charger.
    public var unknownCharger: UnknownChargerRule

    public init(
        chargePointID: String,
        connectorID: Int,
        status: String,
        errorCode: String,
        info: String? = nil,
        vendorID: String? = nil,
        vendorErrorCode: String? = nil,
        timestamp: Date,
        unknownCharger: UnknownChargerRule = .refuse
    ) {
        self.chargePointID = chargePointID
        self.connectorID = connectorID
        self.status = status
        self.errorCode = errorCode
        self.info = info
        self.vendorID = vendorID
        self.vendorErrorCode = vendorErrorCode
        self.timestamp = timestamp
        self.unknownCharger = unknownCharger
    }
}

/// What an OCPP write does when it names a charger the database does not know. The caller
/// (the ingest's request planner, from the unknown-charger policy) decides; the store never
/// registers a charger on its own.
public enum UnknownChargerRule: Sendable, Hashable {
    /// Leave it unregistered: a session start or stop is refused with `notFound`, a connector
    /// status is dropped (the status event is stored elsewhere).
    case refuse
    /// Register it with this registration status (`Accepted` or `Pending`) and go on.
    case register(status: String)
}

/// What Authorize needs of an id tag.
public struct IDTagAuthorization: Sendable, Hashable {
    public var status: String
    public var expiryDate: Date?
    public var parentIDTag: String?

    public init(status: String, expiryDate: Date? = nil, parentIDTag: String? = nil) {
        self.status = status
        self.expiryDate = expiryDate
        self.parentIDTag = parentIDTag
    }
}

extension RelationalStore {
    /// Registers a charger from a BootNotification, or updates the one with that identity.
    /// - Parameters:
    ///   - chargePointID: The OCPP identity.
    ///   - boot: What the charger reported.
    ///   - registrationStatus: The status the server answers with (kept for a new charger;
    ///     an existing one keeps its own, which operators manage).
    ///   - at: The time of the boot.
    /// - Returns: The charger as stored.
    public func registerCharger(
        chargePointID: String,
        boot: ChargerBootInfo,
        registrationStatus: String,
        at time: Date
    ) async throws -> Charger {
        let profile = defaultSecurityProfile
        return try await write { sql in
            try await Self.upsertBoot(
                chargePointID: chargePointID,
                boot,
                registrationStatus,
                securityProfile: profile,
                at: time,
                sql: sql
            )
        }
    }

    /// Records a BootNotification: a known charger's details are updated (it keeps its
    /// registration status); an unknown one is registered or left alone as `unknownCharger` says.
    /// - Returns: The charger as stored, or `nil` when it is unknown and `unknownCharger` is `refuse`.
    public func bootCharger(
        chargePointID: String,
        boot: ChargerBootInfo,
        unknownCharger: UnknownChargerRule,
        at time: Date
    ) async throws -> Charger? {
        let profile = defaultSecurityProfile
        return try await write { sql in
            switch unknownCharger {
            case .register(let status):
                return try await Self.upsertBoot(
                    chargePointID: chargePointID,
                    boot,
                    status,
                    securityProfile: profile,
                    at: time,
                    sql: sql
                )
            case .refuse:
                return try await sql.raw(
                    """
                    UPDATE chargers SET vendor = \(bind: boot.vendor), model = \(bind: boot.model),
                        charge_point_serial_number = \(bind: boot.chargePointSerialNumber),
                        charge_box_serial_number = \(bind: boot.chargeBoxSerialNumber),
                        firmware_version = \(bind: boot.firmwareVersion), iccid = \(bind: boot.iccid),
                        imsi = \(bind: boot.imsi), meter_type = \(bind: boot.meterType),
                        meter_serial_number = \(bind: boot.meterSerialNumber), last_boot_at = \(bind: time),
                        last_heartbeat_at = \(bind: time), updated_at = \(bind: time)
                    WHERE charge_point_id = \(bind: chargePointID)
                    RETURNING *
                    """
                ).first()?.decode(model: Charger.self, with: ColumnNames.decoder)
            }
        }
    }

    private static func upsertBoot(
        chargePointID: String,
        _ boot: ChargerBootInfo,
        _ registrationStatus: String,
        securityProfile: Int,
        at time: Date,
        sql: any SQLDatabase
    ) async throws -> Charger {
        try await sql.raw(
            Self.bootUpsert(
                Self.bootValues(
                    chargePointID,
                    boot,
                    status: registrationStatus,
                    securityProfile: securityProfile,
                    at: time
                ),
                returning: "*"
            )
        ).first()!.decode(model: Charger.self, with: ColumnNames.decoder)
    }

    /// The registration status of charger `chargePointID`, registering it with `status` first
    /// when the database does not know it (a charger registered meanwhile keeps its own).
    public func registerUnknownCharger(chargePointID: String, status: String, at time: Date) async throws -> String {
        let profile = defaultSecurityProfile
        return try await write { sql in
            try await sql.raw(
                """
                INSERT INTO chargers (charge_point_id, registration_status, security_profile, created_at, updated_at)
                VALUES (\(bind: chargePointID), \(bind: status), \(bind: profile), \(bind: time), \(bind: time))
                ON CONFLICT (charge_point_id) DO NOTHING
                """
            ).run()
            guard
                let row = try await sql.select().column("registration_status").from("chargers")
                    .where("charge_point_id", .equal, chargePointID).first()
            else { throw RelationalStoreError(code: .unavailable, message: "charger neither inserted nor found") }
            return try row.decode(column: "registration_status", as: String.self)
        }
    }

    /// The charger with OCPP identity `chargePointID`, if registered.
    public func charger(chargePointID: String) async throws -> Charger? {
        try await read { sql in
            try await sql.select().column(SQLLiteral.all).from("chargers").where(
                "charge_point_id",
                .equal,
                chargePointID
            )
            .first()?.decode(model: Charger.self, with: ColumnNames.decoder)
        }
    }

    /// What Authorize answers for `idTag`: its status, expiry and parent, or `nil` if unknown.
    public func authorization(idTag: String) async throws -> IDTagAuthorization? {
        try await read { sql in
            guard
                let row = try await sql.select().columns("status", "expiry_date", "parent_id_tag").from("rfid_cards")
                    .where("id_tag", .equal, idTag).first()
            else { return nil }
            return IDTagAuthorization(
                status: try row.decode(column: "status", as: String.self),
                expiryDate: try row.decode(column: "expiry_date", as: Date?.self),
                parentIDTag: try row.decode(column: "parent_id_tag", as: String?.self)
            )
        }
    }

    /// Starts a charge session and returns its transactionId.
    ///
    /// A retried identical StartTransaction (same charger, connector, id tag, timestamp and
    /// meter start) gets the same id. A charger the database does not know is registered or
    /// refused as `start.unknownCharger` says.
    /// - Throws: `notFound` when the charger is unknown and the rule refuses it.
    public func startSession(_ start: SessionStart) async throws -> Int {
        let now = Date()
        let profile = defaultSecurityProfile
        return try await write { sql in
            let chargerID = try await Self.requireCharger(
                start.chargePointID,
                start.unknownCharger,
                securityProfile: profile,
                at: now,
                sql: sql
            )
            let driverID = try await sql.select().column("driver_id").from("rfid_cards")
                .where("id_tag", .equal, start.idTag).first()?.decode(column: "driver_id", as: Int64?.self)
            let inserted = try await sql.raw(
                """
                INSERT INTO charge_sessions (charger_id, connector_id, id_tag, driver_id, reservation_id, meter_start,
                    start_time, status, created_at, updated_at)
                VALUES (\(bind: chargerID), \(bind: start.connectorID), \(bind: start.idTag), \(bind: driverID),
                    \(bind: start.reservationID), \(bind: start.meterStart), \(bind: start.timestamp), 'active',
                    \(bind: now), \(bind: now))
                ON CONFLICT (charger_id, connector_id, id_tag, start_time, meter_start) DO NOTHING
                RETURNING id
                """
            ).first()
            if let inserted { return try inserted.decode(column: "id", as: Int.self) }
            // The identical start was recorded before: answer with its id.
            guard
                let existing = try await sql.select().column("id").from("charge_sessions")
                    .where("charger_id", .equal, chargerID).where("connector_id", .equal, start.connectorID)
                    .where("id_tag", .equal, start.idTag).where("start_time", .equal, start.timestamp)
                    .where("meter_start", .equal, start.meterStart).first()
            else { throw RelationalStoreError(code: .unavailable, message: "session start neither inserted nor found") }
            return try existing.decode(column: "id", as: Int.self)
        }
    }

    /// Stops a charge session. An unknown transactionId is recorded as an unmatched stop,
    /// not refused (the charger must get its answer). A charger the database does not know
    /// is registered or refused as `stop.unknownCharger` says.
    /// - Throws: `notFound` when the charger is unknown and the rule refuses it.
    public func stopSession(_ stop: SessionStop) async throws -> SessionStopOutcome {
        let now = Date()
        let profile = defaultSecurityProfile
        return try await write { sql in
            let chargerID = try await Self.requireCharger(
                stop.chargePointID,
                stop.unknownCharger,
                securityProfile: profile,
                at: now,
                sql: sql
            )
            let updated = try await sql.raw(
                """
                UPDATE charge_sessions SET meter_stop = \(bind: stop.meterStop), stop_time = \(bind: stop.timestamp),
                    stop_reason = \(bind: stop.reason), stop_id_tag = \(bind: stop.idTag), status = 'completed',
                    energy_wh = \(bind: stop.meterStop) - meter_start, updated_at = \(bind: now)
                WHERE id = \(bind: stop.transactionID) AND charger_id = \(bind: chargerID)
                RETURNING *
                """
            ).first()
            if let updated {
                return .stopped(try updated.decode(model: ChargeSession.self, with: ColumnNames.decoder))
            }
            try await sql.raw(
                """
                INSERT INTO unmatched_stop_transactions (charger_id, transaction_id, id_tag, meter_stop, stop_time,
                    stop_reason, received_at)
                VALUES (\(bind: chargerID), \(bind: stop.transactionID), \(bind: stop.idTag), \(bind: stop.meterStop),
                    \(bind: stop.timestamp), \(bind: stop.reason), \(bind: now))
                ON CONFLICT (charger_id, transaction_id) DO NOTHING
                """
            ).run()
            return .unknownTransactionRecorded
        }
    }

    /// Applies many connector status updates in one transaction: each connector is created
    /// when new and keeps the latest status by timestamp; a charger the database does not
    /// know is registered or its updates dropped, as each update's `unknownCharger` says.
    /// Multi-row statements, so a batch costs a few round trips, not one per update.
    public func upsertConnectorStatuses(_ updates: [ConnectorStatusUpdate]) async throws {
        guard !updates.isEmpty else { return }
        let now = Date()
        // Only the latest update per connector matters (and one statement may not touch a row twice).
        var latest: [String: ConnectorStatusUpdate] = [:]
        var rules: [String: UnknownChargerRule] = [:]
        for update in updates {
            // A charger any of its updates may register is registered.
            if case .register = update.unknownCharger {
                rules[update.chargePointID] = update.unknownCharger
            } else if rules[update.chargePointID] == nil {
                rules[update.chargePointID] = .refuse
            }
            let key = "\(update.chargePointID)\u{0}\(update.connectorID)"
            if let existing = latest[key], existing.timestamp > update.timestamp { continue }
            latest[key] = update
        }
        let chargers = rules
        let profile = defaultSecurityProfile
        let sorted = latest.values.sorted { ($0.chargePointID, $0.connectorID) < ($1.chargePointID, $1.connectorID) }
        try await write { sql in
            let chargerIDs = try await Self.ensureChargers(chargers, securityProfile: profile, at: now, sql: sql)
            let batch = sorted.filter { chargerIDs[$0.chargePointID] != nil }
            for chunk in batch.chunked(into: Self.rowsPerStatement) {
                let values = chunk.map { update -> SQLQueryString in
                    """
                    (\(bind: chargerIDs[update.chargePointID]!), \(bind: update.connectorID), \(bind: update.status),
                    \(bind: update.errorCode), \(bind: update.info), \(bind: update.vendorID), \(bind: update.vendorErrorCode),
                    \(bind: update.timestamp), \(bind: now), \(bind: now))
                    """
                }
                let statement: SQLQueryString =
                    """
                    INSERT INTO connectors (charger_id, connector_id, status, error_code, info, vendor_id,
                        vendor_error_code, status_at, created_at, updated_at)
                    VALUES \(values.joined(separator: ", "))
                    ON CONFLICT (charger_id, connector_id) DO UPDATE SET
                        status = excluded.status, error_code = excluded.error_code, info = excluded.info,
                        vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
                        status_at = excluded.status_at, updated_at = excluded.updated_at
                    WHERE connectors.status_at IS NULL OR connectors.status_at <= excluded.status_at
                    """
                try await sql.raw(statement).run()
            }
        }
    }

    /// Records many registered chargers' last-seen times (Heartbeat) in one transaction; a
    /// time never moves backwards. A charger the database does not know is not registered by it.
    public func updateLastSeen(_ times: [(chargePointID: String, time: Date)]) async throws {
        guard !times.isEmpty else { return }
        var latest: [String: Date] = [:]
        for entry in times { latest[entry.chargePointID] = max(latest[entry.chargePointID] ?? entry.time, entry.time) }
        let now = Date()
        let batch = latest.sorted { $0.key < $1.key }
        try await write { sql in
            for (chargePointID, time) in batch {
                try await sql.raw(
                    """
                    UPDATE chargers SET last_heartbeat_at = \(bind: time), updated_at = \(bind: now)
                    WHERE charge_point_id = \(bind: chargePointID)
                        AND (last_heartbeat_at IS NULL OR last_heartbeat_at < \(bind: time))
                    """
                ).run()
            }
        }
    }
}
