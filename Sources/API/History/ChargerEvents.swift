import Foundation
import Hummingbird
import Protocol
import Relational
import TimeSeries

/// A charger's stored events, read from the time-series store: the notifications it sent
/// (security events, firmware, diagnostics and log status, DataTransfer, SignCertificate),
/// the security events the server recorded about it and the outcomes of CertificateSigned.
enum ChargerEvents {
    /// The actions events are stored under, and the OCPP payload type each one's payload is
    /// (read back to be written in snake_case, as the rest of the API is).
    static let actions: [(name: String, payload: (any OCPPPayload.Type)?)] = [
        ("SecurityEventNotification", SecurityEventNotificationRequest.self),
        ("FirmwareStatusNotification", FirmwareStatusNotificationRequest.self),
        ("SignedFirmwareStatusNotification", SignedFirmwareStatusNotificationRequest.self),
        ("DiagnosticsStatusNotification", DiagnosticsStatusNotificationRequest.self),
        ("LogStatusNotification", LogStatusNotificationRequest.self),
        ("DataTransfer", DataTransferRequest.self),
        ("SignCertificate", SignCertificateRequest.self),
        // The server's own records: a SecurityEventNotification's shape, and the charger's
        // CertificateSigned confirmation or {"error": ...}.
        ("ServerSecurityEvent", SecurityEventNotificationRequest.self),
        ("CertificateSigned", nil),
    ]

    /// Registers the route; with `cluster`, it answers from every node that holds part of the
    /// charger's history.
    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        cluster: ClusterHistory? = nil
    ) {
        router.get("/db/chargers/:charger_id/events") { request, context in
            try await APIError.mapping {
                let id = try ResourceRoutes<Charger>.pathID("charger_id", context)
                let (query, eventTypes) = try eventsQuery(request.uri.queryParameters)
                let charger = try await relational.get(Charger.self, id: id, company: context.company)
                var selected = query
                selected.chargePointIDs = [charger.chargePointID]
                if let cluster {
                    let request = ClusterHistoryRequest(
                        chargePointID: charger.chargePointID,
                        kind: .event,
                        query: selected,
                        eventTypes: eventTypes
                    )
                    let holders = try await cluster.holders(of: charger.chargePointID, from: query.from, to: query.to)
                    let page = try await cluster.page(request, holders: holders, logger: context.logger)
                    return EventsPage(page)
                }
                let eventsQuery = selected
                let page = try await MeterHistory.offloaded {
                    try timeSeries.events(eventsQuery, eventTypes: eventTypes)
                }
                return EventsPage(page)
            }
        }
    }

    /// `from`, `to` (an empty range when to is not after from), `action` (repeatable, one of ``actions``), `limit`, `cursor`.
    static func eventsQuery(
        _ parameters: Hummingbird.Parameters
    ) throws(ResourceCoding.Invalid) -> (EventQuery, Set<String>?) {
        var query = EventQuery(kinds: [.event], limit: MeterHistory.defaultLimit)
        var eventTypes: Set<String>?
        try QueryParameter.each(parameters) { parameter throws(ResourceCoding.Invalid) in
            switch parameter.name {
            case "from": query.from = try parameter.milliseconds()
            case "to": query.to = try parameter.milliseconds()
            case "action":
                guard actions.contains(where: { $0.name == parameter.text }) else {
                    throw parameter.invalid(
                        "must be one of \(actions.map(\.name).joined(separator: ", ")), got \(parameter.text)",
                        "enum"
                    )
                }
                eventTypes = (eventTypes ?? []).union([parameter.text])
            case "limit": query.limit = try parameter.integer(in: 1...MeterHistory.maximumLimit)
            case "cursor": query.cursor = try parameter.cursor(MeterHistory.cursor)
            default: throw parameter.unknown("events", accepts: "from, to, action, limit, cursor")
            }
        }
        return (query, eventTypes)
    }

    /// A page of events: `{"items": [...], "next_cursor": ...}`.
    typealias EventsPage = HistoryPage<Event>

    struct Event: HistoryItem {
        var timestamp: String
        var action: String
        var payload: RawJSON

        static func items(_ rows: [EventRow]) -> [Self] {
            rows.map { row in
                let action = row.series.eventType ?? ""
                return Self(
                    timestamp: OCPPTimestamp(millisecondsSince1970: row.timestamp).iso8601,
                    action: action,
                    payload: ChargerEvents.payload(row.value, action: action)
                )
            }
        }
    }

    /// A stored payload as a JSON object: an OCPP payload with snake_case keys, anything else
    /// as stored when it is JSON, or as `{"text": ...}` when it is not.
    static func payload(_ value: EventValue, action: String) -> RawJSON {
        let stored: [UInt8]
        switch value {
        case .payload(let text), .text(let text), .numberWithText(_, let text):
            stored = Array(text.utf8)
        case .number, .status:
            stored = Array(value.text.utf8)
        }
        if let type = actions.first(where: { $0.name == action })?.payload,
            let snakeCase = snakeCased(stored, as: type)
        {
            return RawJSON(bytes: snakeCase)
        }
        if case .object? = JSONValue.parse(stored) { return RawJSON(bytes: stored) }
        var wrapped = Array(#"{"text":"#.utf8)
        JSONWriter.appendString(String(decoding: stored, as: UTF8.self), to: &wrapped)
        wrapped.append(UInt8(ascii: "}"))
        return RawJSON(bytes: wrapped)
    }

    private static func snakeCased<Payload: OCPPPayload>(_ bytes: [UInt8], as type: Payload.Type) -> [UInt8]? {
        guard let decoded = try? Payload.decode(from: bytes) else { return nil }
        return decoded.value.encoded(keyStyle: .snakeCase)
    }
}
