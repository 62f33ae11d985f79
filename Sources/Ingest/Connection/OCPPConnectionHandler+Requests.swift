import Foundation
import Logging
import NIOCore
import Protocol
import Relational
import TimeSeries

/// What an answer that needed the database carries back to the event loop: the frame, and
/// rows that must be durable before it is written.
private struct PreparedAnswer: Sendable {
    var frame: [UInt8]
    var rows: [EventRow] = []
}

extension OCPPConnectionHandler {
    /// Handles one request from the charger.
    func handle(_ request: ChargePointRequest, uniqueID: String, now: Int64) {
        let chargePointID = session.chargePointID.rawValue
        if case .bootNotification = request {
        } else if isRefused {
            answerError(
                uniqueID: uniqueID,
                code: .securityError,
                description: "charge point '\(chargePointID)' is not accepted by this central system"
            )
            return
        }
        switch request {
        case .heartbeat:
            services.coalescer.seen(chargePointID, at: Date(timeIntervalSince1970: Double(now) / 1000))
            answer(uniqueID: uniqueID, HeartbeatResponse(currentTime: OCPPTimestamp(millisecondsSince1970: now)))

        case .meterValues(let meterValues):
            let events = services.events
            let batch = EventRows.batch(of: meterValues, chargePointID: chargePointID, cache: &seriesCache) {
                events.seriesID(of: $0)
            }
            writeEvents(batch, acknowledgement: .empty(uniqueID: uniqueID))

        case .statusNotification(let status):
            let row = EventRows.row(of: status, chargePointID: chargePointID, now: now)
            services.coalescer.status(ConnectorStatusUpdate(status, chargePointID: chargePointID, at: row.timestamp))
            writeEvents([row], acknowledgement: .empty(uniqueID: uniqueID))

        case .authorize(let authorize):
            if let cached = services.authorizations.cached(authorize.idTag) {
                answer(
                    uniqueID: uniqueID,
                    AuthorizeResponse(
                        idTagInfo: IngestServices.idTagInfo(
                            cached,
                            acceptUnknown: services.configuration.acceptUnknownIDTags,
                            now: now
                        )
                    )
                )
                return
            }
            let services = self.services
            answerAfter(uniqueID: uniqueID, action: .authorize) {
                let info = try await services.idTagInfo(authorize.idTag, now: now)
                return PreparedAnswer(
                    frame: OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: AuthorizeResponse(idTagInfo: info))
                )
            }

        case .bootNotification(let boot):
            bootNotification(boot, uniqueID: uniqueID, now: now)

        case .startTransaction(let start):
            let services = self.services
            answerAfter(uniqueID: uniqueID, action: .startTransaction) {
                let (response, rows) = try await services.startTransaction(
                    start,
                    chargePointID: chargePointID,
                    now: now
                )
                return PreparedAnswer(
                    frame: OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: response),
                    rows: rows
                )
            }

        case .stopTransaction(let stop):
            let services = self.services
            answerAfter(uniqueID: uniqueID, action: .stopTransaction) {
                let (response, rows) = try await services.stopTransaction(stop, chargePointID: chargePointID, now: now)
                return PreparedAnswer(
                    frame: OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: response),
                    rows: rows
                )
            }

        case .dataTransfer(let transfer):
            let accepted = services.configuration.dataTransferVendorIDs.contains(transfer.vendorId)
            store(
                transfer,
                uniqueID: uniqueID,
                now: now,
                DataTransferResponse(status: accepted ? .accepted : .unknownVendorId)
            )
        case .diagnosticsStatusNotification(let notification):
            store(notification, uniqueID: uniqueID, now: now, DiagnosticsStatusNotificationResponse())
        case .firmwareStatusNotification(let notification):
            store(notification, uniqueID: uniqueID, now: now, FirmwareStatusNotificationResponse())
        case .securityEventNotification(let notification):
            store(notification, uniqueID: uniqueID, now: now, SecurityEventNotificationResponse())
        case .signedFirmwareStatusNotification(let notification):
            store(notification, uniqueID: uniqueID, now: now, SignedFirmwareStatusNotificationResponse())
        case .logStatusNotification(let notification):
            store(notification, uniqueID: uniqueID, now: now, LogStatusNotificationResponse())
        case .signCertificate(let request):
            // Stored for operators; Rejected until the server can sign certificates.
            store(request, uniqueID: uniqueID, now: now, SignCertificateResponse(status: .rejected))
        }
    }

    /// Stores a notification's payload as an event and answers `response` once it is durable.
    private func store<Request: OCPPRequest>(
        _ request: Request,
        uniqueID: String,
        now: Int64,
        _ response: Request.Response
    ) {
        let row = EventRows.event(request, chargePointID: session.chargePointID.rawValue, now: now)
        writeEvents(
            [row],
            acknowledgement: .frame(
                uniqueID: uniqueID,
                OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: response)
            )
        )
    }

    /// Whether the charger may send only BootNotification: it is Rejected, or unknown under
    /// the `reject` policy.
    private var isRefused: Bool {
        switch session.registrationStatus {
        case RegistrationStatus.rejected.rawValue: return true
        case nil: return services.configuration.unknownChargers == .reject
        default: return false
        }
    }

    private func bootNotification(_ boot: BootNotificationRequest, uniqueID: String, now: Int64) {
        let services = self.services
        let session = self.session
        answerAfter(uniqueID: uniqueID, action: .bootNotification) {
            let response = try await services.bootNotification(
                boot,
                chargePointID: session.chargePointID.rawValue,
                now: now
            )
            session.registrationStatus = response.status.rawValue
            return PreparedAnswer(frame: OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: response))
        }
    }

    /// Runs `work` (database calls) off the event loop, then, back on it, makes its rows
    /// durable and writes its answer. A failure is answered with InternalError: the charger
    /// retries, as OCPP has it do.
    private func answerAfter(
        uniqueID: String,
        action: OCPPAction,
        _ work: @escaping @Sendable () async throws -> PreparedAnswer
    ) {
        guard let context else { return }
        inFlight += 1
        let promise = context.eventLoop.makePromise(of: PreparedAnswer.self)
        promise.completeWithTask(work)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenComplete { result in
            let handler = handler.value
            switch result {
            case .success(let prepared) where prepared.rows.isEmpty:
                handler.writeText(prepared.frame)
            case .success(let prepared):
                handler.writeEvents(prepared.rows, acknowledgement: .frame(uniqueID: uniqueID, prepared.frame))
            case .failure(let error as RelationalStoreError)
            where error.code == .invalidValue || error.code == .invalidReference:
                // What the message carries cannot be stored (an empty idTag, a NUL character, a
                // negative connector id): retrying cannot help, so say what is wrong.
                handler.logger.warning(
                    "A request carries values the database refuses",
                    metadata: ["action": "\(action.rawValue)", "error": "\(error)"]
                )
                handler.answerError(
                    uniqueID: uniqueID,
                    code: .propertyConstraintViolation,
                    description: "\(action.rawValue) carries a value the central system cannot store: \(error.message)"
                )
            case .failure(let error):
                handler.logger.error(
                    "Handling a request failed",
                    metadata: ["action": "\(action.rawValue)", "error": "\(error)"]
                )
                handler.answerError(
                    uniqueID: uniqueID,
                    code: .internalError,
                    description: "the central system could not process \(action.rawValue) now; retry later"
                )
            }
            handler.finishedOne()
        }
    }

}
