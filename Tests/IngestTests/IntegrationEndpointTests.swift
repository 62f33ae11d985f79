import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// The `/db/ocpp/*` endpoints: OCPP messages relayed over HTTP take the WebSocket's path,
/// and their 200 comes only once what they carried is durable.
@Suite("OCPP-DB integration endpoints")
struct IntegrationEndpointTests {
    static func post(
        _ server: IngestTestServer,
        _ path: String,
        _ body: String
    ) async throws
        -> CommandEndpointTests.HTTPResponse
    {
        try await CommandEndpointTests.http(server.port, "POST", "/db/ocpp/\(path)", body: body)
    }

    static func object(_ response: CommandEndpointTests.HTTPResponse) -> [String: Any] {
        response.json as? [String: Any] ?? [:]
    }

    @Test(
        "Register, status, start, meter values, end and heartbeat land where the WebSocket's do",
        arguments: TestBackend.allCases
    )
    func fullSession(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        _ = try await server.relational.create(RFIDCard.self, RFIDCard.Fields(idTag: "TAG-H", status: "Accepted"))

        let boot = try await Self.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-HTTP","charge_point_vendor":"V","charge_point_model":"M","firmware_version":"1.2"}"#
        )
        #expect(boot.status == 200, "\(boot.body)")
        #expect(Self.object(boot)["status"] as? String == "Accepted")
        #expect(Self.object(boot)["interval"] as? Int == 300)
        #expect(Self.object(boot)["current_time"] is String)
        let charger = try #require(try await server.relational.charger(chargePointID: "CP-HTTP"))
        #expect(charger.vendor == "V")
        #expect(charger.firmwareVersion == "1.2")

        let status = try await Self.post(
            server,
            "connector/status",
            #"{"charge_point_id":"CP-HTTP","connector_id":1,"error_code":"NoError","status":"Preparing","timestamp":"2026-05-01T10:00:00Z"}"#
        )
        #expect(status.status == 200, "\(status.body)")
        #expect(status.body == "{}")
        // Durable at the answer: the status event is in the store already.
        #expect(try server.rows("CP-HTTP", kinds: [.status]).count == 1)

        let start = try await Self.post(
            server,
            "session/start",
            #"{"charge_point_id":"CP-HTTP","connector_id":1,"id_tag":"TAG-H","meter_start":1000,"timestamp":"2026-05-01T10:01:00Z"}"#
        )
        #expect(start.status == 200, "\(start.body)")
        let transactionID = try #require(Self.object(start)["transaction_id"] as? Int)
        #expect((Self.object(start)["id_tag_info"] as? [String: Any])?["status"] as? String == "Accepted")
        let session = try await server.relational.get(ChargeSession.self, id: Int64(transactionID))
        #expect(session.meterStart == 1000)

        let meterValues = try await Self.post(
            server,
            "meter-values",
            #"""
            {"charge_point_id":"CP-HTTP","connector_id":1,"transaction_id":\#(transactionID),"meter_value":[
             {"timestamp":"2026-05-01T10:05:00Z","sampled_value":[
              {"value":"1500.0","measurand":"Energy.Active.Import.Register","unit":"Wh"},
              {"value":"16.2","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}
            """#
        )
        #expect(meterValues.status == 200, "\(meterValues.body)")
        let sampledAt = try #require(OCPPTimestamp(iso8601: "2026-05-01T10:05:00Z")).millisecondsSince1970
        let samples = try server.rows("CP-HTTP", kinds: [.sample]).filter { $0.timestamp == sampledAt }
        #expect(samples.count == 2)
        #expect(Set(samples.map(\.series.measurand)) == ["Energy.Active.Import.Register", "Current.Import"])
        #expect(samples.first { $0.series.phase == "L1" }?.value == .number(16.2))

        let end = try await Self.post(
            server,
            "session/end",
            #"{"charge_point_id":"CP-HTTP","transaction_id":\#(transactionID),"meter_stop":2500,"timestamp":"2026-05-01T11:00:00Z","reason":"Local"}"#
        )
        #expect(end.status == 200, "\(end.body)")
        let stopped = try await server.relational.get(ChargeSession.self, id: Int64(transactionID))
        #expect(stopped.status == "completed")
        #expect(stopped.meterStop == 2500)

        let heartbeat = try await Self.post(server, "charger/heartbeat", #"{"charge_point_id":"CP-HTTP"}"#)
        #expect(heartbeat.status == 200, "\(heartbeat.body)")
        #expect(Self.object(heartbeat)["current_time"] is String)
        await server.stop()
    }

    @Test("Messages of one charger relayed at once are each stored: none overwrites another of the same millisecond")
    func relayedBurst() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(dataTransferVendorIDs: ["com.acme"]))
        _ = try await Self.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-RBURST","charge_point_vendor":"V","charge_point_model":"M"}"#
        )
        let id = try ChargePointID("CP-RBURST")
        let count = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask {
                    let request = DataTransferRequest(vendorId: "com.acme", messageId: "m\(index)")
                    _ = try await server.ingest.relay(.dataTransfer(request), from: id)
                }
            }
            try await group.waitForAll()
        }
        let stored = try server.rows("CP-RBURST", kinds: [.event]).filter { $0.series.eventType == "DataTransfer" }
        #expect(stored.count == count)
        #expect(Set(stored.map(\.value.text)).count == count)
        await server.stop()
    }

    @Test("The answer waits until the rows are durable", arguments: TestBackend.allCases)
    func answerWaitsForDurability(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        _ = try await Self.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-WAIT","charge_point_vendor":"V","charge_point_model":"M"}"#
        )
        server.ingest.pauseWriter()
        let pending = Task {
            try await Self.post(
                server,
                "meter-values",
                #"{"charge_point_id":"CP-WAIT","connector_id":1,"meter_value":[{"timestamp":"2026-05-01T10:05:00Z","sampled_value":[{"value":"7"}]}]}"#
            )
        }
        try await Task.sleep(for: .milliseconds(400))
        #expect(try server.rows("CP-WAIT", kinds: [.sample]).isEmpty)
        server.ingest.resumeWriter()
        let response = try await pending.value
        #expect(response.status == 200, "\(response.body)")
        #expect(try server.rows("CP-WAIT", kinds: [.sample]).count == 1)
        await server.stop()
    }

    @Test("Invalid bodies are 422 with the field's location; refused chargers 403", arguments: TestBackend.allCases)
    func errors(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(unknownChargers: .reject), backend: backend)
        let cases: [(String, String, [String], String)] = [
            ("charger/heartbeat", "{}", ["body", "charge_point_id"], "missing"),
            (
                "charger/heartbeat", #"{"charge_point_id":"has space"}"#, ["body", "charge_point_id"],
                "string_pattern_mismatch"
            ),
            ("charger/heartbeat", #"{"charge_point_id":"CP","extra":1}"#, ["body", "extra"], "FormationViolation"),
            (
                "connector/status",
                #"{"charge_point_id":"CP","connector_id":"one","error_code":"NoError","status":"Available"}"#,
                ["body", "connector_id"], "TypeConstraintViolation"
            ),
            (
                "connector/status", #"{"charge_point_id":"CP","connector_id":1,"error_code":"NoError"}"#,
                ["body", "status"],
                "OccurenceConstraintViolation"
            ),
            ("meter-values", "not json", ["body"], "json_invalid"),
        ]
        for (path, body, location, type) in cases {
            let response = try await Self.post(server, path, body)
            #expect(response.status == 422, "\(path) \(body): \(response.body)")
            let detail = (Self.object(response)["detail"] as? [[String: Any]])?.first
            #expect((detail?["loc"] as? [Any])?.map { "\($0)" } == location, "\(path) \(body): \(response.body)")
            #expect(detail?["type"] as? String == type, "\(path) \(body): \(response.body)")
        }
        let refused = try await Self.post(
            server,
            "connector/status",
            #"{"charge_point_id":"CP-UNKNOWN","connector_id":1,"error_code":"NoError","status":"Available"}"#
        )
        #expect(refused.status == 403, "\(refused.body)")
        #expect(try await server.relational.charger(chargePointID: "CP-UNKNOWN") == nil)
        let rejectedBoot = try await Self.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-UNKNOWN","charge_point_vendor":"V","charge_point_model":"M"}"#
        )
        #expect(Self.object(rejectedBoot)["status"] as? String == "Rejected")
        #expect(try server.rows("CP-UNKNOWN").isEmpty)
        await server.stop()
    }

    @Test(
        "Under the pending policy a charger's first relayed message registers it Pending, never Accepted",
        arguments: TestBackend.allCases
    )
    func pendingBeforeBoot(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(unknownChargers: .pending), backend: backend)
        let heartbeat = try await Self.post(server, "charger/heartbeat", #"{"charge_point_id":"CP-EARLY"}"#)
        #expect(heartbeat.status == 200, "\(heartbeat.body)")
        #expect(try await server.relational.charger(chargePointID: "CP-EARLY")?.registrationStatus == "Pending")
        let status = try await Self.post(
            server,
            "connector/status",
            #"{"charge_point_id":"CP-EARLY","connector_id":1,"error_code":"NoError","status":"Available"}"#
        )
        #expect(status.status == 200, "\(status.body)")
        #expect(try server.rows("CP-EARLY", kinds: [.status]).count == 1)
        let boot = try await Self.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-EARLY","charge_point_vendor":"V","charge_point_model":"M"}"#
        )
        #expect(Self.object(boot)["status"] as? String == "Pending")
        #expect(try await server.relational.charger(chargePointID: "CP-EARLY")?.vendor == "V")
        await server.stop()
    }
}
