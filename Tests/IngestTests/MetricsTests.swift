import Foundation
import TestSupport
import Testing

/// `/metrics` of the real executable (the metrics system is bootstrapped once per process, so
/// only a server process of its own shows what one server counted).
@Suite("Metrics")
struct MetricsTests {
    @Test("/metrics counts connections, messages by action, binary messages, CALLERRORs, batches, WAL syncs and calls")
    func prometheusText() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ocpp-metrics-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess.start(in: directory)
        defer { server.kill() }
        let charger = try await server.connect("CP-METRICS")

        let boot = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        #expect(boot[0] as? Int == 3)
        for index in 1...2 {
            let answer = try await charger.call(
                "m\(index)",
                "MeterValues",
                #"{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:0\#(index)Z","#
                    + #""sampledValue":[{"value":"\#(index)"},{"value":"7.5","measurand":"Power.Active.Import"}]}]}"#
            )
            #expect(answer[0] as? Int == 3)
        }
        // A binary message holding OCPP-J text is handled as a text message and counted.
        try await charger.sendBinary(#"[2,"b1","Heartbeat",{}]"#)
        let heartbeat = try parse(try await charger.nextText())
        #expect(heartbeat[0] as? Int == 3)
        #expect(heartbeat[1] as? String == "b1")
        #expect(try object(heartbeat[2])["currentTime"] is String)
        let unknown = try await charger.call("x", "NoSuchAction", "{}")
        #expect(unknown[0] as? Int == 4)

        // One call to the charger answered, one to a charger that is not connected.
        async let cleared = rawHTTP(
            port: server.port,
            "POST /charge_points/CP-METRICS/clear_cache HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                + "Authorization: Bearer \(server.token)\r\nConnection: close\r\n\r\n"
        )
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "ClearCache")
        try await charger.send(#"[3,"\#(call[1] as? String ?? "")",{"status":"Accepted"}]"#)
        #expect(try await cleared.hasPrefix("HTTP/1.1 200"))
        let refused = try await rawHTTP(
            port: server.port,
            "POST /charge_points/CP-ABSENT/clear_cache HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                + "Authorization: Bearer \(server.token)\r\nConnection: close\r\n\r\n"
        )
        #expect(refused.hasPrefix("HTTP/1.1 404"))

        let metrics = try await Self.metrics(port: server.port)
        #expect(metrics["ocpp_connected_chargers"] == 1)
        #expect(metrics["ocpp_connections_total"] == 1)
        #expect(metrics[#"ocpp_messages_total{action="BootNotification"}"#] == 1)
        #expect(metrics[#"ocpp_messages_total{action="MeterValues"}"#] == 2)
        #expect(metrics[#"ocpp_messages_total{action="Heartbeat"}"#] == 1)
        #expect(metrics[#"ocpp_messages_total{action="Authorize"}"#] == 0)
        #expect(metrics["ocpp_binary_messages_total"] == 1)
        #expect(metrics[#"ocpp_callerrors_total{code="NotImplemented"}"#] == 1)
        #expect(metrics[#"ocpp_calls_to_chargers_total{outcome="confirmed"}"#] == 1)
        #expect(metrics[#"ocpp_calls_to_chargers_total{outcome="refused"}"#] == 1)
        #expect(metrics["ocpp_ingest_queue_depth"] != nil)
        // Both MeterValues went through the writer: 4 sampled values in 1 or 2 batches.
        #expect(metrics["ocpp_ingest_batch_rows_sum"] == 4)
        #expect((1...2).contains(metrics["ocpp_ingest_batch_messages_count"] ?? 0))
        #expect((metrics["ocpp_ingest_write_seconds_count"] ?? 0) >= 1)
        // Every durable batch needed a WAL sync, and a sync takes some time.
        #expect((metrics["ocpp_wal_sync_seconds_count"] ?? 0) >= metrics["ocpp_ingest_batch_messages_count"] ?? 1)
        #expect((metrics["ocpp_wal_sync_seconds_sum"] ?? 0) > 0)

        await charger.close()
        let deadline = ContinuousClock.now + .seconds(20)
        var connected = metrics["ocpp_connected_chargers"]
        while connected != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            connected = try await Self.metrics(port: server.port)["ocpp_connected_chargers"]
        }
        #expect(connected == 0)
    }

    /// The samples of `/metrics` by name and labels (histogram buckets left out).
    static func metrics(port: Int) async throws -> [String: Double] {
        let response = try await rawHTTP(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        guard response.hasPrefix("HTTP/1.1 200"), let body = response.split(separator: "\r\n\r\n", maxSplits: 1).last
        else { throw TestFailure("GET /metrics: \(response.prefix(200))") }
        var samples: [String: Double] = [:]
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
