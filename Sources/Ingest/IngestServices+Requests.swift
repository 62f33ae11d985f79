import Foundation
import Logging
import Protocol
import Relational
import TimeSeries

/// The work behind the requests that need the database, shared by the WebSocket handler and
/// the HTTP relay: each returns the confirmation and the rows that must be durable before it
/// is sent.
extension IngestServices {
    /// Registers or updates the charger under the unknown-charger policy.
    func bootNotification(
        _ boot: BootNotificationRequest,
        chargePointID: String,
        now: Int64
    ) async throws -> BootNotificationResponse {
        let existing = try await relational.charger(chargePointID: chargePointID)
        let status: RegistrationStatus
        if existing == nil, configuration.unknownChargers == .reject {
            status = .rejected
        } else {
            let charger = try await relational.registerCharger(
                chargePointID: chargePointID,
                boot: ChargerBootInfo(
                    vendor: boot.chargePointVendor,
                    model: boot.chargePointModel,
                    chargePointSerialNumber: boot.chargePointSerialNumber,
                    chargeBoxSerialNumber: boot.chargeBoxSerialNumber,
                    firmwareVersion: boot.firmwareVersion,
                    iccid: boot.iccid,
                    imsi: boot.imsi,
                    meterType: boot.meterType,
                    meterSerialNumber: boot.meterSerialNumber
                ),
                registrationStatus: configuration.unknownChargers == .pending ? "Pending" : "Accepted",
                at: Date(timeIntervalSince1970: Double(now) / 1000)
            )
            status = RegistrationStatus(rawValue: charger.registrationStatus) ?? .accepted
        }
        logger.info(
            "BootNotification",
            metadata: [
                "charge_point_id": "\(chargePointID)", "status": "\(status.rawValue)",
                "vendor": "\(boot.chargePointVendor)", "model": "\(boot.chargePointModel)",
            ]
        )
        return BootNotificationResponse(
            status: status,
            currentTime: OCPPTimestamp(millisecondsSince1970: OCPPConnectionHandler.nowMilliseconds()),
            interval: configuration.heartbeatInterval
        )
    }

    /// The id tag's authorization, through the cache.
    func idTagInfo(_ idTag: String, now: Int64) async throws -> IdTagInfo {
        let authorization = try await authorizations.authorization(idTag)
        return Self.idTagInfo(authorization, acceptUnknown: configuration.acceptUnknownIDTags, now: now)
    }

    /// A session and its transactionId (the same for a retried identical request), and the
    /// meter-start sample.
    func startTransaction(
        _ start: StartTransactionRequest,
        chargePointID: String,
        now: Int64
    ) async throws -> (response: StartTransactionResponse, rows: [EventRow]) {
        let authorization = try await authorizations.authorization(start.idTag)
        let transactionID = try await relational.startSession(
            SessionStart(
                chargePointID: chargePointID,
                connectorID: start.connectorId,
                idTag: start.idTag,
                meterStart: Int64(start.meterStart),
                timestamp: Date(timeIntervalSince1970: Double(start.timestamp.millisecondsSince1970) / 1000),
                reservationID: start.reservationId
            )
        )
        let info = Self.idTagInfo(authorization, acceptUnknown: configuration.acceptUnknownIDTags, now: now)
        let row = EventRows.meterRegister(
            chargePointID: chargePointID,
            connectorID: start.connectorId,
            transactionID: transactionID,
            watthours: start.meterStart,
            timestamp: start.timestamp,
            context: .transactionBegin
        )
        return (StartTransactionResponse(idTagInfo: info, transactionId: transactionID), [row])
    }

    /// The session closed (or the unknown transaction recorded), its transactionData samples
    /// and the meter-stop sample.
    func stopTransaction(
        _ stop: StopTransactionRequest,
        chargePointID: String,
        now: Int64
    ) async throws -> (response: StopTransactionResponse, rows: [EventRow]) {
        let outcome = try await relational.stopSession(
            SessionStop(
                chargePointID: chargePointID,
                transactionID: stop.transactionId,
                idTag: stop.idTag,
                meterStop: Int64(stop.meterStop),
                timestamp: Date(timeIntervalSince1970: Double(stop.timestamp.millisecondsSince1970) / 1000),
                reason: stop.reason?.rawValue
            )
        )
        var connectorID = 0
        if case .stopped(let session) = outcome { connectorID = session.connectorID }
        var rows: [EventRow] = []
        var cache = SampleSeriesCache()
        EventRows.samples(
            chargePointID: chargePointID,
            connectorID: connectorID,
            transactionID: stop.transactionId,
            meterValues: stop.transactionData ?? [],
            cache: &cache,
            into: &rows
        )
        rows.append(
            EventRows.meterRegister(
                chargePointID: chargePointID,
                connectorID: connectorID,
                transactionID: stop.transactionId,
                watthours: stop.meterStop,
                timestamp: stop.timestamp,
                context: .transactionEnd
            )
        )
        var info: IdTagInfo?
        if let idTag = stop.idTag {
            info = try await idTagInfo(idTag, now: now)
        }
        return (StopTransactionResponse(idTagInfo: info), rows)
    }

    /// What Authorize (and the transactions) answer for an id tag: the card's status, Expired
    /// past its expiry date, Invalid when unknown (unless unknown tags are accepted).
    static func idTagInfo(_ authorization: IDTagAuthorization?, acceptUnknown: Bool, now: Int64) -> IdTagInfo {
        guard let authorization else { return IdTagInfo(status: acceptUnknown ? .accepted : .invalid) }
        var status = AuthorizationStatus(rawValue: authorization.status) ?? .invalid
        let expiry = authorization.expiryDate.map {
            OCPPTimestamp(millisecondsSince1970: Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)))
        }
        if status == .accepted, let expiry, expiry.millisecondsSince1970 < now { status = .expired }
        return IdTagInfo(expiryDate: expiry, parentIdTag: authorization.parentIDTag, status: status)
    }
}
