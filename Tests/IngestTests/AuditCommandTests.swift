import Foundation
import Relational
import TestSupport
import Testing

@testable import Ingest

/// Commands sent to chargers and OCPP messages relayed over HTTP are in the audit log, with
/// the charger they were about and their answer's status.
@Suite("Audit log of commands and relayed messages")
struct AuditCommandTests {
    @Test("A command to a connected charger, one to an absent charger, an invalid one", arguments: TestBackend.allCases)
    func commands(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.connect("CP-AUD")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let pending = Task {
            try await CommandEndpointTests.http(
                server.port,
                "POST",
                "/charge_points/CP-AUD/reset",
                body: #"{"type":"Soft"}"#
            )
        }
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "Reset")
        // Answered only once the entry is in: the entry is there when the answer arrives.
        try await charger.send(#"[3,"\#(call[1] as! String)",{"status":"Accepted"}]"#)
        #expect(try await pending.value.status == 200)
        #expect(try await server.relational.auditLog().entries.count == 1)

        let absent = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/charge_points/CP-GONE/unlock",
            body: #"{"connector_id":1}"#
        )
        let invalid = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/charge_points/CP-AUD/reset",
            body: #"{"type":"Sideways"}"#
        )
        #expect(invalid.status == 422)
        #expect(try await CommandEndpointTests.http(server.port, "GET", "/charge_points").status == 200)

        let entries = try await server.relational.auditLog().entries
        #expect(entries.map(\.status) == [200, absent.status, 422], "\(entries)")
        #expect(
            entries.map(\.route) == [
                "/charge_points/{charge_point_id}/reset", "/charge_points/{charge_point_id}/unlock",
                "/charge_points/{charge_point_id}/reset",
            ]
        )
        #expect(
            entries.map(\.target) == ["charge_point_id=CP-AUD", "charge_point_id=CP-GONE", "charge_point_id=CP-AUD"]
        )
        #expect(entries.allSatisfy { $0.method == "POST" && $0.actor == "anonymous" })
        await charger.close()
        await server.stop()
    }

    @Test("A relayed OCPP message names its charger from the body", arguments: TestBackend.allCases)
    func relayed(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let boot = try await IntegrationEndpointTests.post(
            server,
            "charger/register",
            #"{"charge_point_id":"CP-REL","charge_point_vendor":"V","charge_point_model":"M"}"#
        )
        #expect(boot.status == 200, "\(boot.body)")
        let missing = try await IntegrationEndpointTests.post(server, "charger/heartbeat", "{}")
        #expect(missing.status == 422)
        let entries = try await server.relational.auditLog().entries
        #expect(entries.map(\.status) == [200, 422])
        #expect(entries.map(\.route) == ["/db/ocpp/charger/register", "/db/ocpp/charger/heartbeat"])
        #expect(entries.map(\.target) == ["charge_point_id=CP-REL", nil])
        #expect(entries.last?.detail?.hasSuffix("; invalid: body.charge_point_id (missing)") == true)
        await server.stop()
    }
}
