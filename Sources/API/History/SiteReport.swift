import Foundation
import Hummingbird
import NIOCore
import Protocol
import Relational
import TimeSeries

/// A site's per-port report for a period: each port's sessions (start, end, energy, peak
/// power, the error codes its connector reported meanwhile) and its uptime with the outages
/// listed (``PortUptime``), in JSON or CSV. What operators of public chargers submit to
/// funding programmes (US NEVI, 23 CFR 680.112 and 680.116) each quarter.
enum SiteReport {
    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore
    ) {
        router.get("/db/sites/:site_id/report") { request, context in
            try await APIError.mapping {
                let id = try ResourceRoutes<Site>.pathID("site_id", context)
                let period = try Period(request.uri.queryParameters)
                let site = try await relational.get(Site.self, id: id, company: context.company)
                var ports: [Port] = []
                for charger in try await all(Charger.self, [.init("site_id", .integer(site.id))], relational, context) {
                    let connectors = try await all(
                        Connector.self,
                        [.init("charger_id", .integer(charger.id))],
                        relational,
                        context
                    )
                    let sessions = try await all(
                        ChargeSession.self,
                        [
                            .init("charger_id", .integer(charger.id)),
                            .init("start_time", .date(period.fromDate), .atLeast),
                            .init("start_time", .date(period.toDate), .before),
                        ],
                        relational,
                        context,
                        sort: "start_time"
                    )
                    ports += try await MeterHistory.offloaded {
                        try Self.ports(charger, connectors: connectors, sessions: sessions, period, timeSeries)
                    }
                }
                let report = Report(siteID: site.id, from: period.fromDate, to: period.toDate, ports: ports)
                return period.csv ? csv(report) : APIJSONEncoder.response(try APIJSONEncoder.bytes(report))
            }
        }
    }

    /// `from` and `to` (by default the last 30 days) and `format`.
    struct Period: Sendable {
        var from: Int64 = 0
        var to: Int64 = 0
        var csv = false
        var fromDate: Date { Date(timeIntervalSince1970: Double(from) / 1000) }
        var toDate: Date { Date(timeIntervalSince1970: Double(to) / 1000) }

        init(_ query: Hummingbird.Parameters) throws(ResourceCoding.Invalid) {
            var start: Int64?
            var end: Int64?
            try QueryParameter.each(query) { parameter throws(ResourceCoding.Invalid) in
                switch parameter.name {
                case "from": start = try parameter.milliseconds()
                case "to": end = try parameter.milliseconds()
                case "format":
                    guard parameter.text == "json" || parameter.text == "csv" else {
                        throw parameter.invalid("must be json or csv", "enum")
                    }
                    csv = parameter.text == "csv"
                default: throw parameter.unknown("report", accepts: "from, to, format")
                }
            }
            // By default the 30 days up to now; from a given start, up to now; up to a given end,
            // the 30 days before it. A start at or after the end is an empty period. The cost
            // follows the statuses and sessions stored in the period, not its length.
            let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
            let to = end ?? (start == nil ? now : max(now, start!))
            let from = start ?? to - 30 * 86_400_000
            self.from = from
            self.to = to
        }
    }

    struct Report: Encodable, Sendable {
        var siteID: Int64
        var from: Date
        var to: Date
        var ports: [Port]

        enum CodingKeys: String, CodingKey {
            case siteID = "site_id"
            case from, to, ports
        }
    }

    struct Port: Encodable, Sendable {
        var chargerID: Int64
        var chargePointID: String
        var connectorID: Int
        var uptime: Double?
        var upSeconds: Double
        var downSeconds: Double
        var unknownSeconds: Double
        var outages: [Outage]
        var sessions: [Session]

        enum CodingKeys: String, CodingKey {
            case chargerID = "charger_id"
            case chargePointID = "charge_point_id"
            case connectorID = "connector_id"
            case uptime
            case upSeconds = "up_seconds"
            case downSeconds = "down_seconds"
            case unknownSeconds = "unknown_seconds"
            case outages, sessions
        }
    }

    struct Outage: Encodable, Sendable {
        var start: Date
        var end: Date
        var seconds: Double
        var status: String
        var errorCode: String

        enum CodingKeys: String, CodingKey {
            case start, end, seconds, status
            case errorCode = "error_code"
        }
    }

    struct Session: Encodable, Sendable {
        var chargeSessionID: Int64
        var startTime: Date
        var stopTime: Date?
        var energyWh: Double?
        var peakPowerW: Double?
        var errorCodes: [String]

        enum CodingKeys: String, CodingKey {
            case chargeSessionID = "charge_session_id"
            case startTime = "start_time"
            case stopTime = "stop_time"
            case energyWh = "energy_wh"
            case peakPowerW = "peak_power_w"
            case errorCodes = "error_codes"
        }
    }

    /// Every row of `Entity` the filters select, page by page.
    private static func all<Entity: StoredEntity>(
        _ type: Entity.Type,
        _ filters: [ListQuery.Filter],
        _ relational: RelationalStore,
        _ context: APIRequestContext,
        sort: String = "id"
    ) async throws -> [Entity] {
        var rows: [Entity] = []
        while true {
            let page = try await relational.list(
                Entity.self,
                ListQuery(limit: ListQuery.maximumLimit, offset: rows.count, filters: filters, sortColumn: sort),
                company: context.company
            )
            rows += page.items
            if page.items.count < ListQuery.maximumLimit || rows.count >= page.total { return rows }
        }
    }

    /// The ports of one charger (connectors from 1), from its status history and sessions.
    static func ports(
        _ charger: Charger,
        connectors: [Connector],
        sessions: [ChargeSession],
        _ period: Period,
        _ timeSeries: TimeSeriesStore
    ) throws -> [Port] {
        let chargePointID = charger.chargePointID
        let inside = try timeSeries.query(
            EventQuery(
                chargePointIDs: [chargePointID],
                kinds: [.status],
                from: period.from,
                to: period.to,
                limit: Int.max
            )
        ).rows
        func changes(_ connector: Int) throws -> [PortUptime.Change] {
            // The status in force at `from`: the last one before it.
            let before = try timeSeries.query(
                EventQuery(
                    chargePointIDs: [chargePointID],
                    connectorID: connector,
                    kinds: [.status],
                    to: period.from,
                    descending: true,
                    limit: 1
                )
            ).rows
            return (before + inside.filter { $0.series.connectorID == connector }).compactMap { row in
                guard case .status(let status) = row.value else { return nil }
                return PortUptime.Change(
                    time: row.timestamp,
                    ofCharger: connector == 0,
                    status: status.status,
                    errorCode: status.errorCode
                )
            }
        }
        let chargerChanges = try changes(0)
        var ports: [Port] = []
        for connector in Set(connectors.map(\.connectorID)).filter({ $0 >= 1 }).sorted() {
            let portChanges = try changes(connector)
            let uptime = PortUptime(from: period.from, to: period.to, changes: portChanges + chargerChanges)
            let reported = (portChanges + chargerChanges).filter { $0.errorCode != "NoError" }
            let portSessions = try sessions.filter { $0.connectorID == connector }.map { session in
                let summary = try ChargerHistory.SessionSummary(
                    session,
                    chargePointID: chargePointID,
                    timeSeries: timeSeries
                )
                let start = Int64((session.startTime.timeIntervalSince1970 * 1000).rounded())
                let end = session.stopTime.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } ?? period.to
                var codes: [String] = []
                for change in reported where change.time >= start && change.time <= end {
                    if !codes.contains(change.errorCode) { codes.append(change.errorCode) }
                }
                return Session(
                    chargeSessionID: session.id,
                    startTime: session.startTime,
                    stopTime: session.stopTime,
                    energyWh: summary.energyWh,
                    peakPowerW: summary.peakPowerW,
                    errorCodes: codes
                )
            }
            ports.append(
                Port(
                    chargerID: charger.id,
                    chargePointID: chargePointID,
                    connectorID: connector,
                    uptime: uptime.uptime,
                    upSeconds: Double(uptime.upMilliseconds) / 1000,
                    downSeconds: Double(uptime.downMilliseconds) / 1000,
                    unknownSeconds: Double(uptime.unknownMilliseconds) / 1000,
                    outages: uptime.outages.map { outage in
                        Outage(
                            start: Date(timeIntervalSince1970: Double(outage.start) / 1000),
                            end: Date(timeIntervalSince1970: Double(outage.end) / 1000),
                            seconds: Double(outage.end - outage.start) / 1000,
                            status: outage.status,
                            errorCode: outage.errorCode
                        )
                    },
                    sessions: portSessions
                )
            )
        }
        return ports
    }

    /// One line per port, per outage and per session, told apart by `record`.
    static func csv(_ report: Report) -> Response {
        func time(_ date: Date?) -> String {
            guard let date else { return "" }
            var bytes: [UInt8] = []
            OCPPTimestamp(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded()))
                .appendISO8601(to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        func number(_ value: Double?) -> String { value.map { EventValue.number($0).text } ?? "" }
        var lines = [
            "record,charger_id,charge_point_id,connector_id,uptime,up_seconds,down_seconds,unknown_seconds,"
                + "start,end,seconds,status,error_code,charge_session_id,energy_wh,peak_power_w,error_codes"
        ]
        for port in report.ports {
            let key = "\(port.chargerID),\(HistoryFormat.csv(port.chargePointID)),\(port.connectorID)"
            lines.append(
                "port,\(key),\(number(port.uptime)),\(number(port.upSeconds)),\(number(port.downSeconds)),"
                    + "\(number(port.unknownSeconds)),,,,,,,,,"
            )
            for outage in port.outages {
                lines.append(
                    "outage,\(key),,,,,\(time(outage.start)),\(time(outage.end)),\(number(outage.seconds)),"
                        + "\(HistoryFormat.csv(outage.status)),\(HistoryFormat.csv(outage.errorCode)),,,,"
                )
            }
            for session in port.sessions {
                lines.append(
                    "session,\(key),,,,,\(time(session.startTime)),\(time(session.stopTime)),,,,"
                        + "\(session.chargeSessionID),\(number(session.energyWh)),\(number(session.peakPowerW)),"
                        + HistoryFormat.csv(session.errorCodes.joined(separator: " "))
                )
            }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array((lines.joined(separator: "\n") + "\n").utf8)))
        )
    }
}
