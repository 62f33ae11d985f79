import Foundation
import TestSupport
import Testing

@testable import Ingest

/// A site's per-port report on a scripted month: statuses and a session sent by a charger
/// over the WebSocket, the report's uptime, outages and session figures computed by hand.
@Suite("Site report")
struct SiteReportTests {
    typealias HTTP = CommandEndpointTests

    @Test("A scripted month gives the uptime, outages and sessions computed by hand", arguments: TestBackend.allCases)
    func month(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        func json(_ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
            try await server.json(method, path, body)
        }
        let company = try #require(try await json("POST", "/db/companies", #"{"name":"Reports"}"#)["id"] as? Int)
        let site = try #require(
            try await json("POST", "/db/sites", #"{"company_id":\#(company),"name":"Highway"}"#)["id"] as? Int
        )
        let charger = try await server.connect("CP-REPORT")
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        let list = try await json("GET", "/db/chargers/?charge_point_id=CP-REPORT")
        let chargerID = try #require((list["items"] as? [[String: Any]])?.first?["id"] as? Int)
        _ = try await json("PATCH", "/db/chargers/\(chargerID)", #"{"site_id":\#(site)}"#)

        var sequence = 0
        func status(_ connector: Int, _ time: String, _ status: String, _ error: String = "NoError") async throws {
            sequence += 1
            let payload =
                #"{"connectorId":\#(connector),"status":"\#(status)","errorCode":"\#(error)","timestamp":"\#(time)"}"#
            let answer = try await charger.call("s\(sequence)", "StatusNotification", payload)
            #expect(answer.first as? Int == 3)
        }
        try await status(1, "2025-12-31T12:00:00Z", "Available")
        try await status(1, "2026-01-05T00:00:00Z", "Faulted", "GroundFailure")
        try await status(1, "2026-01-05T06:00:00Z", "Available")
        try await status(0, "2026-01-10T00:00:00Z", "Unavailable")
        try await status(0, "2026-01-10T03:00:00Z", "Available")
        try await status(2, "2026-01-16T00:00:00Z", "Available")
        // A session on connector 1 with an over-current warning while suspended.
        let start = try await charger.call(
            "t1",
            "StartTransaction",
            #"{"connectorId":1,"idTag":"T","meterStart":1000,"timestamp":"2026-01-12T10:00:00Z"}"#
        )
        let transactionID = try #require(try object(start[2])["transactionId"] as? Int)
        try await status(1, "2026-01-12T10:00:00Z", "Charging")
        let meterValues =
            #"{"connectorId":1,"transactionId":\#(transactionID),"meterValue":[{"timestamp":"2026-01-12T10:30:00Z","#
            + #""sampledValue":[{"value":"6000","unit":"Wh"},{"value":"7400","measurand":"Power.Active.Import","unit":"W"}]}]}"#
        _ = try await charger.call("m1", "MeterValues", meterValues)
        try await status(1, "2026-01-12T11:00:00Z", "SuspendedEVSE", "OverCurrentFailure")
        try await status(1, "2026-01-12T11:10:00Z", "Charging")
        _ = try await charger.call(
            "t2",
            "StopTransaction",
            #"{"transactionId":\#(transactionID),"meterStop":21000,"timestamp":"2026-01-12T12:00:00Z","reason":"Local"}"#
        )
        try await status(1, "2026-01-12T12:00:00Z", "Available")
        try await server.eventually(timeout: .seconds(30), "both connectors are recorded") {
            let connectors = try await json("GET", "/db/connectors/?charger_id=\(chargerID)")
            return (connectors["items"] as? [[String: Any]] ?? []).compactMap { $0["connector_id"] as? Int }
                .filter { $0 >= 1 }.count == 2
        }

        let period = "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z"
        let report = try await json("GET", "/db/sites/\(site)/report?\(period)")
        #expect(report["site_id"] as? Int == site)
        let ports = report["ports"] as? [[String: Any]] ?? []
        #expect(ports.map { $0["connector_id"] as? Int } == [1, 2])
        let month = 31.0 * 86_400
        // Connector 1: its fault (6 h) and the charger's unavailability (3 h) are down.
        let first = try #require(ports.first)
        #expect(first["down_seconds"] as? Double == Double(9 * 3600))
        #expect(first["unknown_seconds"] as? Double == 0)
        #expect(first["up_seconds"] as? Double == month - 9 * 3600)
        #expect(first["uptime"] as? Double == (month - 9 * 3600) / month)
        let outages = first["outages"] as? [[String: Any]] ?? []
        #expect(outages.map { $0["start"] as? String } == ["2026-01-05T00:00:00.000Z", "2026-01-10T00:00:00.000Z"])
        #expect(outages.map { $0["seconds"] as? Double } == [6 * 3600, 3 * 3600])
        #expect(outages.map { $0["status"] as? String } == ["Faulted", "Unavailable"])
        #expect(outages.map { $0["error_code"] as? String } == ["GroundFailure", "NoError"])
        let sessions = first["sessions"] as? [[String: Any]] ?? []
        #expect(sessions.count == 1)
        #expect(sessions.first?["charge_session_id"] as? Int == transactionID)
        #expect(sessions.first?["energy_wh"] as? Double == 20000)
        #expect(sessions.first?["peak_power_w"] as? Double == 7400)
        #expect(sessions.first?["error_codes"] as? [String] == ["OverCurrentFailure"])
        // Connector 2: unknown until its first status on the 16th, except while the charger was down.
        let second = try #require(ports.last)
        #expect(second["unknown_seconds"] as? Double == Double(15 * 86_400 - 3 * 3600))
        #expect(second["down_seconds"] as? Double == Double(3 * 3600))
        #expect(second["up_seconds"] as? Double == Double(16 * 86_400))
        #expect((second["sessions"] as? [Any])?.isEmpty == true)

        let csv = try await HTTP.http(server.port, "GET", "/db/sites/\(site)/report?\(period)&format=csv")
        let lines = csv.body.split(separator: "\n")
        // A header, two ports, connector 1's two outages and one session, connector 2's outage.
        let expectedLines = 7
        #expect(lines.count == expectedLines, "\(csv.body)")
        #expect(lines.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 17 })
        #expect(
            lines.contains {
                $0.hasPrefix("session,\(chargerID),CP-REPORT,1,") && $0.hasSuffix(",20000,7400,OverCurrentFailure")
            }
        )

        for (query, parameter) in [
            ("from=soon", "from"), ("to=later", "to"), ("format=xml", "format"), ("limit=3", "limit"),
        ] {
            let answer = try await HTTP.http(server.port, "GET", "/db/sites/\(site)/report?\(query)")
            #expect(
                answer.status == 422 && answer.body.contains(#"["query","\#(parameter)"]"#),
                "\(query): \(answer.body)"
            )
        }
        // A start after the end is an empty period; a start alone runs to now, over years.
        let empty = try await json("GET", "/db/sites/\(site)/report?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        #expect(
            (empty["ports"] as? [[String: Any]] ?? []).allSatisfy { port in
                port["uptime"] is NSNull && (port["sessions"] as? [Any])?.isEmpty == true
                    && port["up_seconds"] as? Double == 0 && port["unknown_seconds"] as? Double == 0
            }
        )
        let since = try await json("GET", "/db/sites/\(site)/report?from=2000-01-01T00:00:00Z")
        let sinceSessions = (since["ports"] as? [[String: Any]])?.first?["sessions"] as? [Any]
        #expect(sinceSessions?.count == 1)
        #expect(try await HTTP.http(server.port, "GET", "/db/sites/999999/report").status == 404)
        await charger.close()
        await server.stop()
    }
}
