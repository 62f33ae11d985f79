import Foundation
import Hummingbird
import Protocol
import Relational
import TimeSeries

/// A charger's status history and a charge session's summary, both computed from the
/// time-series store.
enum ChargerHistory {
    /// Registers the routes; with `cluster`, status history answers from every node that holds
    /// part of the charger's history.
    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        cluster: ClusterHistory? = nil
    ) {
        router.get("/db/chargers/:charger_id/status-history") { request, context in
            try await APIError.mapping {
                let id = try ResourceRoutes<Charger>.pathID("charger_id", context)
                let query = try statusQuery(request.uri.queryParameters)
                let charger = try await relational.get(Charger.self, id: id, company: context.company)
                var selected = query
                selected.chargePointIDs = [charger.chargePointID]
                if let cluster {
                    let request = ClusterHistoryRequest(
                        chargePointID: charger.chargePointID,
                        kind: .status,
                        query: selected
                    )
                    let holders = try await cluster.holders(of: charger.chargePointID, from: query.from, to: query.to)
                    let page = try await cluster.page(request, holders: holders, logger: context.logger)
                    return StatusHistoryPage(page)
                }
                let statusQuery = selected
                let page = try await MeterHistory.offloaded { try timeSeries.query(statusQuery) }
                return StatusHistoryPage(page)
            }
        }
        router.get("/db/charge_sessions/:charge_session_id/summary") { _, context in
            try await APIError.mapping {
                let id = try ResourceRoutes<ChargeSession>.pathID("charge_session_id", context)
                let session = try await relational.get(ChargeSession.self, id: id, company: context.company)
                let charger = try await relational.get(Charger.self, id: session.chargerID, company: context.company)
                let chargePointID = charger.chargePointID
                return try await MeterHistory.offloaded {
                    try SessionSummary(session, chargePointID: chargePointID, timeSeries: timeSeries)
                }
            }
        }
    }

    // MARK: - Status history

    /// `from`, `to`, `connector_id`, `limit`, `cursor`, `order` (asc or desc).
    static func statusQuery(_ parameters: Hummingbird.Parameters) throws(ResourceCoding.Invalid) -> EventQuery {
        var query = EventQuery(kinds: [.status], limit: MeterHistory.defaultLimit)
        try QueryParameter.each(parameters) { parameter throws(ResourceCoding.Invalid) in
            switch parameter.name {
            case "from": query.from = try parameter.milliseconds()
            case "to": query.to = try parameter.milliseconds()
            case "connector_id": query.connectorID = try parameter.integer(in: MeterHistory.connectorIDs)
            case "limit": query.limit = try parameter.integer(in: 1...MeterHistory.maximumLimit)
            case "cursor": query.cursor = try parameter.cursor(MeterHistory.cursor)
            case "order":
                guard parameter.text == "asc" || parameter.text == "desc" else {
                    throw parameter.invalid("must be asc or desc, got \(parameter.text)", "enum")
                }
                query.descending = parameter.text == "desc"
            default:
                throw parameter.unknown("status-history", accepts: "from, to, connector_id, limit, cursor, order")
            }
        }
        return query
    }

    /// A page of StatusNotifications: `{"items": [...], "next_cursor": ...}`.
    typealias StatusHistoryPage = HistoryPage<StatusChange>

    struct StatusChange: HistoryItem {
        var timestamp: String
        var connectorID: Int
        var status: String
        var errorCode: String
        var info: String?
        var vendorID: String?
        var vendorErrorCode: String?

        enum CodingKeys: String, CodingKey {
            case timestamp
            case connectorID = "connector_id"
            case status
            case errorCode = "error_code"
            case info
            case vendorID = "vendor_id"
            case vendorErrorCode = "vendor_error_code"
        }

        static func items(_ rows: [EventRow]) -> [Self] {
            rows.compactMap { row in
                guard case .status(let status) = row.value else { return nil }
                return Self(
                    timestamp: OCPPTimestamp(millisecondsSince1970: row.timestamp).iso8601,
                    connectorID: row.series.connectorID,
                    status: status.status,
                    errorCode: status.errorCode,
                    info: status.info,
                    vendorID: status.vendorID,
                    vendorErrorCode: status.vendorErrorCode
                )
            }
        }
    }

    // MARK: - Session summary

    /// What `/db/charge_sessions/{id}/summary` answers.
    struct SessionSummary: ResponseEncodable, Sendable {
        var chargeSessionID: Int64
        var chargerID: Int64
        var connectorID: Int
        var status: String
        var startTime: Date
        var stopTime: Date?
        var durationSeconds: Double
        var energyWh: Double?
        var energySource: String?
        var peakPowerW: Double?
        var averagePowerW: Double?
        var sampleCount: Int

        enum CodingKeys: String, CodingKey {
            case chargeSessionID = "charge_session_id"
            case chargerID = "charger_id"
            case connectorID = "connector_id"
            case status
            case startTime = "start_time"
            case stopTime = "stop_time"
            case durationSeconds = "duration_seconds"
            case energyWh = "energy_wh"
            case energySource = "energy_source"
            case peakPowerW = "peak_power_w"
            case averagePowerW = "average_power_w"
            case sampleCount = "sample_count"
        }

        /// Energy from the session's energy register samples (the whole-charger register, in
        /// Wh; kWh converted), or from meter start and stop when there are none; duration to
        /// the stop (or to now while active); peak power from its Power.Active.Import samples.
        ///
        /// Reads one aggregate per series (first and last values with their times, maximum,
        /// count) from the numeric columns alone: no row is materialized.
        init(_ session: ChargeSession, chargePointID: String, timeSeries: TimeSeriesStore) throws {
            let aggregates = try timeSeries.summarize(
                EventQuery(
                    chargePointIDs: [chargePointID],
                    transactionID: Int(session.id),
                    kinds: [.sample],
                    measurands: ["Energy.Active.Import.Register", "Power.Active.Import"]
                )
            )
            var firstRegister: (timestamp: Int64, watthours: Double)?
            var lastRegister: (timestamp: Int64, watthours: Double)?
            var peakPower: Double?
            for aggregate in aggregates where aggregate.series.phase == nil {
                let unit = aggregate.series.unit
                if (aggregate.series.measurand ?? "Energy.Active.Import.Register") == "Energy.Active.Import.Register" {
                    let scale = unit == "kWh" ? 1000.0 : 1
                    if firstRegister == nil || aggregate.firstTimestamp < firstRegister!.timestamp {
                        firstRegister = (aggregate.firstTimestamp, aggregate.first * scale)
                    }
                    if lastRegister == nil || aggregate.lastTimestamp >= lastRegister!.timestamp {
                        lastRegister = (aggregate.lastTimestamp, aggregate.last * scale)
                    }
                } else {
                    let watts = aggregate.maximum * (unit == "kW" ? 1000 : 1)
                    peakPower = max(peakPower ?? watts, watts)
                }
            }
            var energy: Double?
            var source: String?
            if let firstRegister, let lastRegister, lastRegister.timestamp > firstRegister.timestamp {
                energy = lastRegister.watthours - firstRegister.watthours
                source = "meter_values"
            } else if let meterStop = session.meterStop {
                energy = Double(meterStop - session.meterStart)
                source = "meter_start_stop"
            }
            let end = session.stopTime ?? Date()
            let duration = max(0, end.timeIntervalSince(session.startTime))
            chargeSessionID = session.id
            chargerID = session.chargerID
            connectorID = session.connectorID
            status = session.status
            startTime = session.startTime
            stopTime = session.stopTime
            durationSeconds = duration.rounded(.down)
            energyWh = energy
            energySource = source
            peakPowerW = peakPower
            averagePowerW = energy.flatMap { duration > 0 ? $0 / (duration / 3600) : nil }
            sampleCount = aggregates.reduce(0) { $0 + $1.count }
        }
    }
}
