import Foundation
import Hummingbird
import Protocol
import Relational
import TimeSeries

/// A charger's status history and a charge session's summary, both computed from the
/// time-series store.
enum ChargerHistory {
    static func register(
        on router: Router<BasicRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore
    ) {
        router.get("/db/chargers/:charger_id/status-history") { request, context in
            try await answer {
                let id = try ResourceRoutes<Charger>.pathID("charger_id", context)
                let query = try statusQuery(request.uri.queryParameters)
                let charger = try await relational.get(Charger.self, id: id)
                var selected = query
                selected.chargePointIDs = [charger.chargePointID]
                let statusQuery = selected
                let page = try await MeterHistory.offloaded { try timeSeries.query(statusQuery) }
                return APIApplication.jsonResponse(statusJSON(page))
            }
        }
        router.get("/db/charge_sessions/:charge_session_id/summary") { _, context in
            try await answer {
                let id = try ResourceRoutes<ChargeSession>.pathID("charge_session_id", context)
                let session = try await relational.get(ChargeSession.self, id: id)
                let charger = try await relational.get(Charger.self, id: session.chargerID)
                let chargePointID = charger.chargePointID
                return APIApplication.jsonResponse(
                    try await MeterHistory.offloaded {
                        try summaryJSON(session, chargePointID: chargePointID, timeSeries: timeSeries)
                    }
                )
            }
        }
    }

    private static func answer(_ body: () async throws -> Response) async throws -> Response {
        try await APIErrors.answering(body)
    }

    // MARK: - Status history

    /// `from`, `to`, `connector_id`, `limit`, `cursor`, `order` (asc or desc).
    static func statusQuery(_ parameters: Hummingbird.Parameters) throws(ResourceCoding.Invalid) -> EventQuery {
        var query = EventQuery(kinds: [.status], limit: MeterHistory.defaultLimit)
        for (key, value) in parameters {
            let name = String(key)
            let text = String(value)
            func invalid(_ message: String, _ type: String) -> ResourceCoding.Invalid {
                ResourceCoding.Invalid(location: ["query", name], message: message, type: type)
            }
            switch name {
            case "from", "to":
                guard let timestamp = OCPPTimestamp(iso8601: text) else {
                    throw invalid("must be an ISO 8601 date-time with a time zone, got \(text)", "datetime_parsing")
                }
                if name == "from" {
                    query.from = timestamp.millisecondsSince1970
                } else {
                    query.to = timestamp.millisecondsSince1970
                }
            case "connector_id":
                guard let connector = Int(text), connector >= 0 else {
                    throw invalid("must be a whole number, 0 or more, got \(text)", "int_parsing")
                }
                query.connectorID = connector
            case "limit":
                guard let limit = Int(text), (1...MeterHistory.maximumLimit).contains(limit) else {
                    throw invalid(
                        "must be a whole number in 1...\(MeterHistory.maximumLimit), got \(text)",
                        "int_parsing"
                    )
                }
                query.limit = limit
            case "cursor":
                guard let cursor = EventCursor(text) else {
                    throw invalid("not a cursor this API returned", "value_error")
                }
                query.cursor = cursor
            case "order":
                guard text == "asc" || text == "desc" else { throw invalid("must be asc or desc, got \(text)", "enum") }
                query.descending = text == "desc"
            default:
                throw invalid(
                    "unknown query parameter; status-history accepts from, to, connector_id, limit, cursor, order",
                    "extra_forbidden"
                )
            }
        }
        return query
    }

    static func statusJSON(_ page: EventPage) -> String {
        func text(_ value: String?) -> String { value.map(APIApplication.jsonString) ?? "null" }
        var items: [String] = []
        for row in page.rows {
            guard case .status(let status) = row.value else { continue }
            items.append(
                #"{"timestamp":"\#(OCPPTimestamp(millisecondsSince1970: row.timestamp))","#
                    + #""connector_id":\#(row.series.connectorID),"#
                    + #""status":\#(APIApplication.jsonString(status.status)),"#
                    + #""error_code":\#(APIApplication.jsonString(status.errorCode)),"#
                    + #""info":\#(text(status.info)),"vendor_id":\#(text(status.vendorID)),"#
                    + #""vendor_error_code":\#(text(status.vendorErrorCode))}"#
            )
        }
        let cursor = page.nextCursor.map { APIApplication.jsonString($0.description) } ?? "null"
        return #"{"items":[\#(items.joined(separator: ","))],"next_cursor":\#(cursor)}"#
    }

    // MARK: - Session summary

    /// Energy from the session's energy register samples (the whole-charger register, in Wh;
    /// kWh converted), or from meter start and stop when there are none; duration to the stop
    /// (or to now while active); peak power from its Power.Active.Import samples.
    static func summaryJSON(
        _ session: ChargeSession,
        chargePointID: String,
        timeSeries: TimeSeriesStore
    ) throws -> String {
        let rows = try timeSeries.query(
            EventQuery(
                chargePointIDs: [chargePointID],
                transactionID: Int(session.id),
                kinds: [.sample],
                measurands: ["Energy.Active.Import.Register", "Power.Active.Import"],
                limit: Int.max
            )
        ).rows
        var firstRegister: (timestamp: Int64, watthours: Double)?
        var lastRegister: (timestamp: Int64, watthours: Double)?
        var peakPower: Double?
        for row in rows where row.series.phase == nil {
            guard let number = row.value.number else { continue }
            let unit = row.series.unit
            if (row.series.measurand ?? "Energy.Active.Import.Register") == "Energy.Active.Import.Register" {
                let watthours = unit == "kWh" ? number * 1000 : number
                if firstRegister == nil || row.timestamp < firstRegister!.timestamp {
                    firstRegister = (row.timestamp, watthours)
                }
                if lastRegister == nil || row.timestamp >= lastRegister!.timestamp {
                    lastRegister = (row.timestamp, watthours)
                }
            } else {
                let watts = unit == "kW" ? number * 1000 : number
                peakPower = max(peakPower ?? watts, watts)
            }
        }
        var energy: Double?
        var source = "null"
        if let firstRegister, let lastRegister, lastRegister.timestamp > firstRegister.timestamp {
            energy = lastRegister.watthours - firstRegister.watthours
            source = #""meter_values""#
        } else if let meterStop = session.meterStop {
            energy = Double(meterStop - session.meterStart)
            source = #""meter_start_stop""#
        }
        let end = session.stopTime ?? Date()
        let duration = max(0, end.timeIntervalSince(session.startTime))
        let average = energy.flatMap { duration > 0 ? $0 / (duration / 3600) : nil }
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return HistoryFormat.jsonNumber(value)
        }
        return #"{"charge_session_id":\#(session.id),"charger_id":\#(session.chargerID),"#
            + #""connector_id":\#(session.connectorID),"status":\#(APIApplication.jsonString(session.status)),"#
            + #""start_time":"\#(ResourceCoding.timestamp(session.startTime))","#
            + #""stop_time":\#(session.stopTime.map { "\"\(ResourceCoding.timestamp($0))\"" } ?? "null"),"#
            + #""duration_seconds":\#(number(duration.rounded(.down))),"#
            + #""energy_wh":\#(number(energy)),"energy_source":\#(source),"#
            + #""peak_power_w":\#(number(peakPower)),"average_power_w":\#(number(average)),"#
            + #""sample_count":\#(rows.count)}"#
    }
}
