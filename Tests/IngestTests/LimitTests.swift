import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// The limits against bad chargers end to end: a connector id above the highest, and a new
/// series past the charger's series limit, are refused with a CALLERROR, stored nowhere, and
/// leave the connection and the charger's other messages alone.
@Suite("Limits against bad chargers")
struct LimitTests {
    static func meterValues(connector: Int, transaction: Int?, second: Int, measurands: [String]) -> String {
        let values = measurands.enumerated().map { #"{"value":"\#($0.offset + 1)","measurand":"\#($0.element)"}"# }
        let transactionField = transaction.map { #""transactionId":\#($0),"# } ?? ""
        return #"{"connectorId":\#(connector),\#(transactionField)"meterValue":[{"timestamp":"#
            + #""2026-03-01T10:00:\#(String(format: "%02d", second))Z","sampledValue":[\#(values.joined(separator: ","))]}]}"#
    }

    static func status(connector: Int) -> String {
        #"{"connectorId":\#(connector),"errorCode":"NoError","status":"Available","timestamp":"2026-03-01T09:00:00Z"}"#
    }

    static func expectCallError(_ answer: [Any], _ uniqueID: String, _ code: String, _ text: String) {
        #expect(answer.count == 5)
        #expect(answer[0] as? Int == 4)
        #expect(answer[1] as? String == uniqueID)
        #expect(answer[2] as? String == code)
        #expect((answer[3] as? String)?.contains(text) == true, "\(answer)")
    }

    static let energy = "Energy.Active.Import.Register"
    static let power = "Power.Active.Import"

    @Test("A connector id above the highest is refused with PropertyConstraintViolation and stored nowhere")
    func connectorLimit() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(maximumConnectorID: 2))
        let charger = try await server.connect("CP-CONN")
        let status = try await charger.call("s3", "StatusNotification", Self.status(connector: 3))
        Self.expectCallError(status, "s3", "PropertyConstraintViolation", "connectorId: 3 is above the highest")
        let meter = try await charger.call(
            "m3",
            "MeterValues",
            Self.meterValues(connector: 3, transaction: nil, second: 1, measurands: [Self.energy])
        )
        Self.expectCallError(meter, "m3", "PropertyConstraintViolation", "(2)")
        let start = try await charger.call(
            "t3",
            "StartTransaction",
            #"{"connectorId":3,"idTag":"TAG","meterStart":0,"timestamp":"2026-03-01T10:00:00Z"}"#
        )
        Self.expectCallError(start, "t3", "PropertyConstraintViolation", "StartTransaction connectorId")
        #expect(try server.rows("CP-CONN").isEmpty)

        // The same connection goes on; the limit itself is allowed.
        let good = try await charger.call("s2", "StatusNotification", Self.status(connector: 2))
        #expect(good[0] as? Int == 3)
        let goodMeter = try await charger.call(
            "m2",
            "MeterValues",
            Self.meterValues(connector: 2, transaction: nil, second: 2, measurands: [Self.energy])
        )
        #expect(goodMeter[0] as? Int == 3)
        #expect(try server.rows("CP-CONN").map(\.series.connectorID) == [2, 2])
        // Only connector 2 reaches the database (statuses are written in the background).
        try await server.eventually("connector 2's status is stored") {
            try await server.relational.list(Connector.self, ListQuery(limit: 10)).items.map(\.connectorID) == [2]
        }

        // The relay refuses it too (409: beyond a limit), storing nothing.
        let relayed = try await IntegrationEndpointTests.post(
            server,
            "meter-values",
            #"{"charge_point_id":"CP-CONN","connector_id":7,"meter_value":[{"timestamp":"2026-03-01T11:00:00Z","sampled_value":[{"value":"1"}]}]}"#
        )
        #expect(relayed.status == 409, "\(relayed.body)")
        #expect(try server.rows("CP-CONN").count == 2)
        await charger.close()
        await server.stop()
    }

    @Test("Past the series limit a new series is refused whole; known ones, in new sessions too, are still taken")
    func seriesLimit() async throws {
        let server = try await IngestTestServer.start(
            timeSeriesOptions: TimeSeriesOptions(maximumSeriesPerChargePoint: 3)
        )
        let charger = try await server.connect("CP-SER")
        let first = try await charger.call(
            "m1",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: 1, second: 1, measurands: [Self.energy, Self.power])
        )
        #expect(first[0] as? Int == 3)
        #expect(try await charger.call("s1", "StatusNotification", Self.status(connector: 1))[0] as? Int == 3)
        // Fifty charging sessions of the same two measurands: three identities still.
        for transaction in 2...51 {
            let answer = try await charger.call(
                "m\(transaction)",
                "MeterValues",
                Self.meterValues(
                    connector: 1,
                    transaction: transaction,
                    second: 2,
                    measurands: [Self.energy, Self.power]
                )
            )
            #expect(answer[0] as? Int == 3, "session \(transaction): \(answer)")
        }
        #expect(try server.rows("CP-SER").count == 103)

        // A known measurand and a new one in one message: refused, nothing of it stored.
        let refused = try await charger.call(
            "v1",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: 52, second: 3, measurands: [Self.energy, "Voltage"])
        )
        Self.expectCallError(refused, "v1", "OccurenceConstraintViolation", "already has the most series")
        #expect((refused[3] as? String)?.contains("measurand Voltage") == true)
        #expect(try server.rows("CP-SER").count == 103)
        #expect(try server.timeSeries.query(EventQuery(transactionID: 52)).rows.isEmpty)

        // The connection goes on: the next good message is stored and acknowledged.
        let next = try await charger.call(
            "m52",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: 52, second: 4, measurands: [Self.energy])
        )
        #expect(next[0] as? Int == 3)
        #expect(try server.timeSeries.query(EventQuery(transactionID: 52)).rows.count == 1)
        // A status of a new connector is a new series too: refused, and the connector's
        // status does not reach the database either.
        let newConnector = try await charger.call("s2", "StatusNotification", Self.status(connector: 2))
        Self.expectCallError(newConnector, "s2", "OccurenceConstraintViolation", "connector 2, status")
        let charging =
            #"{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-03-01T09:30:00Z"}"#
        #expect(try await charger.call("s1b", "StatusNotification", charging)[0] as? Int == 3)
        try await server.eventually("connector 1's second status is stored") {
            try await server.relational.list(Connector.self, ListQuery(limit: 10)).items.map(\.status) == ["Charging"]
        }
        // Another charger has a limit of its own.
        let other = try await server.connect("CP-OTHER")
        let otherAnswer = try await other.call(
            "o1",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: nil, second: 5, measurands: [Self.energy, "Voltage"])
        )
        #expect(otherAnswer[0] as? Int == 3)
        // Relayed over HTTP the refusal is a 409 (beyond a limit), and nothing is stored.
        let relayed = try await IntegrationEndpointTests.post(
            server,
            "meter-values",
            #"{"charge_point_id":"CP-SER","connector_id":1,"meter_value":[{"timestamp":"2026-03-01T11:00:00Z","sampled_value":[{"value":"1","measurand":"Frequency"}]}]}"#
        )
        #expect(relayed.status == 409, "\(relayed.body)")
        #expect(relayed.body.contains("already has the most series"), "\(relayed.body)")
        #expect(try server.rows("CP-SER").count == 105)
        await other.close()
        await charger.close()
        await server.stop()
    }

    @Test("The real server reads the limits from its environment and counts the refusals in /metrics")
    func serverProcess() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ocpp-limits-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess.start(
            in: directory,
            settings: [
                "OCPP_MAX_CONNECTOR_ID": "4", "OCPP_MAX_SERIES_PER_CHARGER": "10",
                "OCPP_TIMESTAMP_PAST_DAYS": "7", "OCPP_TIMESTAMP_FUTURE_HOURS": "2",
            ]
        )
        defer { server.kill() }
        let charger = try await server.connect("CP-PROC")
        let above = try await charger.call("s5", "StatusNotification", Self.status(connector: 5))
        Self.expectCallError(above, "s5", "PropertyConstraintViolation", "(4)")
        let measurands = [
            "Energy.Active.Import.Register", "Energy.Active.Export.Register", "Power.Active.Import",
            "Power.Active.Export", "Current.Import", "Current.Export", "Voltage", "Frequency", "Temperature",
            "SoC", "RPM",
        ]
        let tooMany = try await charger.call(
            "m11",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: nil, second: 1, measurands: measurands)
        )
        Self.expectCallError(tooMany, "m11", "OccurenceConstraintViolation", "(10)")
        let ten = try await charger.call(
            "m10",
            "MeterValues",
            Self.meterValues(connector: 1, transaction: nil, second: 2, measurands: Array(measurands.prefix(10)))
        )
        #expect(ten[0] as? Int == 3)
        // Misdated rows are acknowledged like any other.
        let misdated = try await charger.call(
            "old",
            "MeterValues",
            #"{"connectorId":1,"meterValue":[{"timestamp":"1970-01-01T00:00:01Z","sampledValue":[{"value":"9"}]}]}"#
        )
        #expect(misdated[0] as? Int == 3)
        let metrics = try await MetricsTests.metrics(port: server.port)
        #expect(metrics[#"ocpp_requests_refused_total{reason="connector_limit"}"#] == 1)
        #expect(metrics[#"ocpp_requests_refused_total{reason="series_limit"}"#] == 1)
        #expect(metrics[#"ocpp_callerrors_total{code="OccurenceConstraintViolation"}"#] == 1)
        #expect(metrics[#"ocpp_callerrors_total{code="PropertyConstraintViolation"}"#] == 1)
        #expect(metrics["ocpp_ts_rows_outside_window_total"] == 0)
        await charger.close()
    }

    @Test("By default the real server takes connector ids up to 100")
    func defaultConnectorLimit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ocpp-limits-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess.start(in: directory)
        defer { server.kill() }
        let charger = try await server.connect("CP-DEFAULT")
        #expect(try await charger.call("s100", "StatusNotification", Self.status(connector: 100))[0] as? Int == 3)
        let above = try await charger.call("s101", "StatusNotification", Self.status(connector: 101))
        Self.expectCallError(above, "s101", "PropertyConstraintViolation", "(100)")
        await charger.close()
    }
}
