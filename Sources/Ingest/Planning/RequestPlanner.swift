import Foundation
import Protocol
import Relational
import TimeSeries

/// Decides what a charger's request does, the same for the WebSocket and the HTTP relay:
/// from the decoded request, the charger, the time, what is known of the charger and the
/// configuration, to the answer, the rows that must be durable first and the relational
/// effects, asking the database through ``DatabaseStep``s where it must. Pure: no I/O, no
/// clock (`now` is given).
enum RequestPlanner {
    /// The plan for `request` from `chargePointID`, received at `now` (ms since 1970).
    static func plan(
        _ request: ChargePointRequest,
        chargePointID: String,
        now: Int64,
        knowledge: ChargerKnowledge,
        configuration: IngestConfiguration
    ) -> RequestPlan {
        if let violation = RequestBounds.violation(request) {
            return .decided(
                PlannedResult(
                    answer: .error(.propertyConstraintViolation, description: "\(request.action.rawValue) \(violation)")
                )
            )
        }
        let rule = configuration.unknownChargers.unknownChargerRule
        if case .bootNotification(let boot) = request {
            return .database(.boot(boot, unknownCharger: rule))
        }
        switch admission(knowledge, policy: configuration.unknownChargers) {
        case .refused: return .decided(refusal(chargePointID))
        case .registerFirst(let status): return .database(.register(status))
        case .admitted: break
        }
        // After admission: a charger that may not send this learns nothing of the limits.
        if let violation = RequestLimit.connectorViolation(
            request,
            maximumConnectorID: configuration.maximumConnectorID
        ) {
            return .decided(
                PlannedResult(
                    answer: .error(RequestLimit.connectorLimit.errorCode, description: violation),
                    refusalReason: violation,
                    limit: .connectorLimit
                )
            )
        }
        switch request {
        case .bootNotification(let boot):
            return .database(.boot(boot, unknownCharger: rule))
        case .heartbeat:
            return .decided(
                PlannedResult(
                    answer: .result(
                        HeartbeatResponse(currentTime: OCPPTimestamp(millisecondsSince1970: now)),
                        isEmpty: false
                    ),
                    effects: [.seen(chargePointID: chargePointID, at: date(now))]
                )
            )
        case .meterValues(let meterValues):
            return .decided(
                PlannedResult(answer: .result(MeterValuesResponse(), isEmpty: true), rows: .meterValues(meterValues))
            )
        case .statusNotification(let status):
            let row = EventRows.row(of: status, chargePointID: chargePointID, now: now)
            let update = ConnectorStatusUpdate(
                chargePointID: chargePointID,
                connectorID: status.connectorId,
                status: status.status.rawValue,
                errorCode: status.errorCode.rawValue,
                info: status.info,
                vendorID: status.vendorId,
                vendorErrorCode: status.vendorErrorCode,
                timestamp: date(row.timestamp),
                unknownCharger: rule
            )
            return .decided(
                PlannedResult(
                    answer: .result(StatusNotificationResponse(), isEmpty: true),
                    rows: .rows([row]),
                    effects: [.connectorStatus(update)]
                )
            )
        case .authorize(let authorize):
            return .database(.authorize(idTag: authorize.idTag))
        case .startTransaction(let start):
            return .database(.startTransaction(start, unknownCharger: rule))
        case .stopTransaction(let stop):
            return .database(.stopTransaction(stop, unknownCharger: rule))
        case .dataTransfer(let transfer):
            let accepted = configuration.dataTransferVendorIDs.contains(transfer.vendorId)
            return stored(
                transfer,
                chargePointID,
                now,
                DataTransferResponse(status: accepted ? .accepted : .unknownVendorId)
            )
        case .diagnosticsStatusNotification(let notification):
            return stored(notification, chargePointID, now, DiagnosticsStatusNotificationResponse(), isEmpty: true)
        case .firmwareStatusNotification(let notification):
            return stored(notification, chargePointID, now, FirmwareStatusNotificationResponse(), isEmpty: true)
        case .securityEventNotification(let notification):
            return stored(notification, chargePointID, now, SecurityEventNotificationResponse(), isEmpty: true)
        case .signedFirmwareStatusNotification(let notification):
            return stored(notification, chargePointID, now, SignedFirmwareStatusNotificationResponse(), isEmpty: true)
        case .logStatusNotification(let notification):
            return stored(notification, chargePointID, now, LogStatusNotificationResponse(), isEmpty: true)
        case .signCertificate(let signing):
            return certificateSigning(signing, chargePointID: chargePointID, now: now, configuration: configuration)
        }
    }

    /// The plan once the database answered `outcome` to the step `request`'s plan asked for:
    /// decided, or (after an unknown charger was registered) planned again with what the
    /// database holds now.
    static func advance(
        _ request: ChargePointRequest,
        after outcome: DatabaseOutcome,
        chargePointID: String,
        now: Int64,
        configuration: IngestConfiguration
    ) -> RequestPlan {
        switch (outcome, request) {
        case (.registered(let knowledge), _):
            if knowledge == .unknown { return .decided(failure(request.action)) }
            return plan(
                request,
                chargePointID: chargePointID,
                now: now,
                knowledge: knowledge,
                configuration: configuration
            )
        case (.booted(let status), .bootNotification):
            let response = BootNotificationResponse(
                status: status ?? .rejected,
                currentTime: OCPPTimestamp(millisecondsSince1970: now),
                interval: configuration.heartbeatInterval
            )
            return .decided(PlannedResult(answer: .result(response, isEmpty: false)))
        case (.authorized(let authorization), .authorize):
            let info = idTagInfo(authorization, acceptUnknown: configuration.acceptUnknownIDTags, now: now)
            return .decided(PlannedResult(answer: .result(AuthorizeResponse(idTagInfo: info), isEmpty: false)))
        case (.started(let transactionID, let authorization), .startTransaction(let start)):
            let info = idTagInfo(authorization, acceptUnknown: configuration.acceptUnknownIDTags, now: now)
            let row = EventRows.meterRegister(
                chargePointID: chargePointID,
                connectorID: start.connectorId,
                transactionID: transactionID,
                watthours: start.meterStart,
                timestamp: start.timestamp,
                context: .transactionBegin
            )
            return .decided(
                PlannedResult(
                    answer: .result(
                        StartTransactionResponse(idTagInfo: info, transactionId: transactionID),
                        isEmpty: false
                    ),
                    rows: .rows([row])
                )
            )
        case (.stopped(let connectorID, let authorization), .stopTransaction(let stop)):
            return .decided(stopped(stop, connectorID: connectorID, authorization, chargePointID, now, configuration))
        case (.signed(let chain), .signCertificate(let signing)):
            return .decided(certificateSigned(signing, chain: chain, chargePointID: chargePointID, now: now))
        case (.signingRefused(let reason), .signCertificate(let signing)):
            return .decided(signingRejected(signing, reason: reason, chargePointID: chargePointID, now: now))
        case (.unavailable, .signCertificate(let signing)):
            return .decided(
                signingRejected(signing, reason: "signing failed unexpectedly", chargePointID: chargePointID, now: now)
            )
        case (.notRegistered, _):
            return .decided(refusal(chargePointID))
        case (.unstorable(let message), _):
            return .decided(
                PlannedResult(
                    answer: .error(
                        .propertyConstraintViolation,
                        description:
                            "\(request.action.rawValue) carries a value the central system cannot store: \(message)"
                    )
                )
            )
        case (.unavailable, _), (.booted, _), (.authorized, _), (.started, _), (.stopped, _), (.signed, _),
            (.signingRefused, _):
            return .decided(failure(request.action))
        }
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

    /// The refusal of a charger that may send only BootNotification.
    private static func refusal(_ chargePointID: String) -> PlannedResult {
        PlannedResult(
            answer: .error(
                .securityError,
                description: "charge point '\(chargePointID)' is not accepted by this central system"
            )
        )
    }

    /// The answer when the database failed: the charger retries, as OCPP has it do.
    private static func failure(_ action: OCPPAction) -> PlannedResult {
        PlannedResult(
            answer: .error(
                .internalError,
                description: "the central system could not process \(action.rawValue) now; retry later"
            )
        )
    }

    /// A notification stored as an event and answered `response` once durable.
    private static func stored<Request: OCPPRequest>(
        _ request: Request,
        _ chargePointID: String,
        _ now: Int64,
        _ response: Request.Response,
        isEmpty: Bool = false
    ) -> RequestPlan {
        .decided(
            PlannedResult(
                answer: .result(response, isEmpty: isEmpty),
                rows: .rows([EventRows.event(request, chargePointID: chargePointID, now: now)])
            )
        )
    }

    /// A stopped (or unmatched) session: its transactionData samples and the meter-stop sample.
    private static func stopped(
        _ stop: StopTransactionRequest,
        connectorID: Int,
        _ authorization: IDTagAuthorization?,
        _ chargePointID: String,
        _ now: Int64,
        _ configuration: IngestConfiguration
    ) -> PlannedResult {
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
        let info = stop.idTag.map { _ in
            idTagInfo(authorization, acceptUnknown: configuration.acceptUnknownIDTags, now: now)
        }
        return PlannedResult(
            answer: .result(StopTransactionResponse(idTagInfo: info), isEmpty: false),
            rows: .rows(rows)
        )
    }

    private static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
