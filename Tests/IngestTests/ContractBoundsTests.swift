import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// What a charger sends is bounded where it enters: OCPP integers are 32 bits and connector
/// ids 0 or more (the OCPP schemas bound neither), so a value outside is refused over the
/// WebSocket (PropertyConstraintViolation) and the relay (422), and never stored.
@Suite("Contract: bounds on what chargers send")
struct ContractBoundsTests {
    static let status = #""errorCode":"NoError","status":"Available""#
    static let relayedStatus = #""error_code":"NoError","status":"Available""#
    static let meterValue = #"[{"timestamp":"2026-05-01T10:05:00Z","sampledValue":[{"value":"7"}]}]"#

    @Test("Out-of-range integers are refused over the WebSocket and never stored", arguments: TestBackend.allCases)
    func webSocket(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.connect("CP-BOUND")
        let boot = try await charger.call("1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        #expect(boot.first as? Int == 3, "\(boot)")
        for (action, payload) in [
            ("StatusNotification", #"{"connectorId":24722493004,\#(Self.status)}"#),
            ("StatusNotification", #"{"connectorId":-1,\#(Self.status)}"#),
            ("StatusNotification", #"{"connectorId":2147483648,\#(Self.status)}"#),
            (
                "StartTransaction",
                #"{"connectorId":1,"idTag":"T","meterStart":2147483648,"timestamp":"2026-05-01T10:00:00Z"}"#
            ),
            (
                "StartTransaction",
                #"{"connectorId":1,"idTag":"T","meterStart":0,"reservationId":-2147483649,"timestamp":"2026-05-01T10:00:00Z"}"#
            ),
            ("StopTransaction", #"{"transactionId":4294967296,"meterStop":0,"timestamp":"2026-05-01T10:00:00Z"}"#),
            ("MeterValues", #"{"connectorId":3000000000,"meterValue":\#(Self.meterValue)}"#),
            ("MeterValues", #"{"connectorId":1,"transactionId":-2147483649,"meterValue":\#(Self.meterValue)}"#),
        ] {
            let answer = try await charger.call(UUID().uuidString, action, payload)
            #expect(answer.first as? Int == 4, "\(action) \(payload): \(answer)")
            #expect(answer.count > 3 && answer[2] as? String == "PropertyConstraintViolation", "\(answer)")
            #expect(answer.count > 3 && (answer[3] as? String)?.contains("must be in") == true, "\(answer)")
        }
        let highest = try await charger.call("9", "StatusNotification", #"{"connectorId":2147483647,\#(Self.status)}"#)
        #expect(highest.first as? Int == 3, "\(highest)")
        await charger.close()
        #expect(try server.rows("CP-BOUND", kinds: [.status]).map(\.series.connectorID) == [2_147_483_647])
        #expect(try server.rows("CP-BOUND", kinds: [.sample]).isEmpty)
        await server.stop()
    }

    @Test("Out-of-range integers and NUL characters are 422 from the relay", arguments: TestBackend.allCases)
    func relay(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let cases: [(String, String, [String], String)] = [
            (
                "connector/status", #"{"charge_point_id":"CP-R","connector_id":24722493004,\#(Self.relayedStatus)}"#,
                ["body", "connector_id"], "less_than_equal"
            ),
            (
                "connector/status", #"{"charge_point_id":"CP-R","connector_id":-1,\#(Self.relayedStatus)}"#,
                ["body", "connector_id"], "greater_than_equal"
            ),
            (
                "session/end",
                #"{"charge_point_id":"CP-R","transaction_id":666430129536403654411106123776,"meter_stop":0,"timestamp":"2026-05-01T10:00:00Z"}"#,
                ["body", "transaction_id"], "less_than_equal"
            ),
            (
                "session/start",
                #"{"charge_point_id":"CP-R","connector_id":0,"id_tag":"","meter_start":0,"timestamp":"2026-05-01T10:00:00Z"}"#,
                ["body", "id_tag"], "string_too_short"
            ),
            (
                "charger/register",
                #"{"charge_point_id":"CP-R","charge_point_vendor":"V","charge_point_model":"M","imsi":"a\u0000"}"#,
                ["body", "imsi"], "string_pattern_mismatch"
            ),
            (
                "meter-values",
                #"{"charge_point_id":"CP-R","connector_id":1,"meter_value":[{"timestamp":"2026-05-01T10:05:00Z","sampled_value":[{"value":"7\u0000"}]}]}"#,
                ["body", "meter_value", "0", "sampled_value", "0", "value"], "string_pattern_mismatch"
            ),
        ]
        for (path, body, location, type) in cases {
            let response = try await IntegrationEndpointTests.post(server, path, body)
            #expect(response.status == 422, "\(path) \(body): \(response.body)")
            let detail = (IntegrationEndpointTests.object(response)["detail"] as? [[String: Any]])?.first
            #expect((detail?["loc"] as? [Any])?.map { "\($0)" } == location, "\(path) \(body): \(response.body)")
            #expect(detail?["type"] as? String == type, "\(path) \(body): \(response.body)")
        }
        #expect(try server.rows("CP-R").isEmpty)
        let highest = try await IntegrationEndpointTests.post(
            server,
            "connector/status",
            #"{"charge_point_id":"CP-R","connector_id":2147483647,\#(Self.relayedStatus)}"#
        )
        #expect(highest.status == 200, "\(highest.body)")
        #expect(try server.rows("CP-R", kinds: [.status]).map(\.series.connectorID) == [2_147_483_647])
        await server.stop()
    }
}
