import Foundation
import Logging
public import Protocol
import Relational
import TimeSeries

/// Why a relayed message was not taken.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Sendable, Hashable {
        /// The charger may not send this: it is Rejected, or unknown while unknown chargers are refused.
        case refused
        /// The message carries a value the database refuses (an empty idTag, a NUL character,
        /// a negative connector id); retrying cannot help.
        case unstorable
        /// The database or the time-series store failed; nothing was acknowledged. Retry.
        case unavailable
    }

    public let kind: Kind
    public let description: String
}

extension OCPPIngest {
    /// Takes a message a charger sent through another system (the REST API's `/db/ocpp/*`
    /// endpoints): the same work, the same stores and the same durability rule as over the
    /// WebSocket. It returns once what the message carried is durable.
    /// - Parameters:
    ///   - request: The charger's request, decoded and validated.
    ///   - chargePointID: The charger it came from.
    /// - Returns: The confirmation the charger would have been sent.
    /// - Throws: ``RelayError``.
    public func relay(
        _ request: ChargePointRequest,
        from chargePointID: ChargePointID
    ) async throws(RelayError) -> any OCPPPayload {
        let services = self.services
        let id = chargePointID.rawValue
        let now = OCPPConnectionHandler.nowMilliseconds()
        do {
            if case .bootNotification(let boot) = request {
                return try await services.bootNotification(boot, chargePointID: id, now: now)
            }
            let charger = try await services.relational.charger(chargePointID: id)
            if charger?.registrationStatus == RegistrationStatus.rejected.rawValue
                || (charger == nil && services.configuration.unknownChargers == .reject)
            {
                throw RelayError(
                    kind: .refused,
                    description: "charge point '\(id)' is not accepted by this central system"
                )
            }
            switch request {
            case .bootNotification:
                preconditionFailure("answered above")
            case .heartbeat:
                services.coalescer.seen(id, at: Date(timeIntervalSince1970: Double(now) / 1000))
                return HeartbeatResponse(currentTime: OCPPTimestamp(millisecondsSince1970: now))
            case .meterValues(let meterValues):
                var cache = SampleSeriesCache()
                try await durable(EventRows.rows(of: meterValues, chargePointID: id, cache: &cache))
                return MeterValuesResponse()
            case .statusNotification(let status):
                let row = EventRows.row(of: status, chargePointID: id, now: now)
                try await durable([row])
                services.coalescer.status(ConnectorStatusUpdate(status, chargePointID: id, at: row.timestamp))
                return StatusNotificationResponse()
            case .authorize(let authorize):
                return AuthorizeResponse(idTagInfo: try await services.idTagInfo(authorize.idTag, now: now))
            case .startTransaction(let start):
                let (response, rows) = try await services.startTransaction(start, chargePointID: id, now: now)
                try await durable(rows)
                return response
            case .stopTransaction(let stop):
                let (response, rows) = try await services.stopTransaction(stop, chargePointID: id, now: now)
                try await durable(rows)
                return response
            case .dataTransfer(let transfer):
                try await durable([EventRows.event(transfer, chargePointID: id, now: now)])
                let accepted = services.configuration.dataTransferVendorIDs.contains(transfer.vendorId)
                return DataTransferResponse(status: accepted ? .accepted : .unknownVendorId)
            case .diagnosticsStatusNotification(let notification):
                try await durable([EventRows.event(notification, chargePointID: id, now: now)])
                return DiagnosticsStatusNotificationResponse()
            case .firmwareStatusNotification(let notification):
                try await durable([EventRows.event(notification, chargePointID: id, now: now)])
                return FirmwareStatusNotificationResponse()
            case .securityEventNotification(let notification):
                try await durable([EventRows.event(notification, chargePointID: id, now: now)])
                return SecurityEventNotificationResponse()
            case .signedFirmwareStatusNotification(let notification):
                try await durable([EventRows.event(notification, chargePointID: id, now: now)])
                return SignedFirmwareStatusNotificationResponse()
            case .logStatusNotification(let notification):
                try await durable([EventRows.event(notification, chargePointID: id, now: now)])
                return LogStatusNotificationResponse()
            case .signCertificate(let signing):
                try await durable([EventRows.event(signing, chargePointID: id, now: now)])
                return SignCertificateResponse(status: .rejected)
            }
        } catch let error as RelayError {
            throw error
        } catch let error as RelationalStoreError where error.code == .invalidValue || error.code == .invalidReference {
            throw RelayError(
                kind: .unstorable,
                description:
                    "\(request.action.rawValue) carries a value the central system cannot store: \(error.message)"
            )
        } catch {
            services.logger.error(
                "Relaying a message failed",
                metadata: ["charge_point_id": "\(id)", "action": "\(request.action.rawValue)", "error": "\(error)"]
            )
            throw RelayError(kind: .unavailable, description: "storing the message failed; retry: \(error)")
        }
    }

    /// Hands `rows` to the event writer and returns once they are durable (WAL synced). A full
    /// queue makes the caller wait for room, as a connection's reads would.
    private func durable(_ rows: [EventRow]) async throws {
        guard !rows.isEmpty else { return }
        let events = services.events
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let item = EventWriteItem(rows: .keyed(rows), completion: .callback { continuation.resume(with: $0) })
            guard !events.submit(item) else { return }
            Task {
                while !events.submit(item) {
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
        }
    }
}
