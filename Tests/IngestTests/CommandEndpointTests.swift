import Foundation
import TestSupport
import Testing

@testable import Ingest

/// The OCPP command endpoints end to end: HTTP request, CALL over a real WebSocket to a
/// test charger, its answer back as the HTTP response.
@Suite("OCPP command endpoints")
struct CommandEndpointTests {
    struct HTTPResponse {
        var status: Int
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
    }

    static func http(
        _ port: Int,
        _ method: String,
        _ path: String,
        body: String? = nil,
        token: String? = nil
    ) async throws -> HTTPResponse {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }
        let raw = try await rawHTTP(port: port, request)
        guard let statusLine = raw.split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? ""),
            let split = raw.range(of: "\r\n\r\n")
        else { throw TestFailure("not an HTTP response: \(raw)") }
        let head = raw[..<split.lowerBound].lowercased()
        let body = String(raw[split.upperBound...])
        guard head.contains("transfer-encoding: chunked") else { return HTTPResponse(status: status, body: body) }
        // A streamed answer: size line, data, CRLF, ..., a zero-size chunk.
        var bytes = Array(body.utf8)[...]
        var decoded: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")) {
            guard let size = Int(String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self), radix: 16),
                size > 0
            else { break }
            let start = lineEnd + 2
            guard start + size <= bytes.endIndex else { throw TestFailure("a chunk runs past the body") }
            decoded += bytes[start..<start + size]
            bytes = bytes[(start + size + 2)...]
        }
        return HTTPResponse(status: status, body: String(decoding: decoded, as: UTF8.self))
    }

    @Test("A command goes to the charger in camelCase and its confirmation comes back in snake_case")
    func remoteStart() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-CMD")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let body = """
            {"id_tag":"TAG-7","connector_id":2,"charging_profile":{"charging_profile_id":9,"stack_level":0,
             "charging_profile_purpose":"TxProfile","charging_profile_kind":"Absolute",
             "charging_schedule":{"charging_rate_unit":"A","charging_schedule_period":[{"start_period":0,"limit":16.5}]}}}
            """
        let pending = Task {
            try await Self.http(server.port, "POST", "/charge_points/CP-CMD/remote_start", body: body)
        }
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "RemoteStartTransaction")
        let payload = try object(call[3])
        #expect(payload["idTag"] as? String == "TAG-7")
        #expect(payload["connectorId"] as? Int == 2)
        let profile = try object(payload["chargingProfile"]!)
        let schedule = try object(profile["chargingSchedule"]!)
        let period = try object((schedule["chargingSchedulePeriod"] as? [Any])?.first ?? [:])
        #expect(period["startPeriod"] as? Int == 0)
        #expect(period["limit"] as? Double == 16.5)
        try await charger.send(#"[3,"\#(call[1] as! String)",{"status":"Accepted"}]"#)
        let response = try await pending.value
        #expect(response.status == 200)
        #expect(response.body == #"{"status":"Accepted"}"#)
        await charger.close()
        await server.stop()
    }

    @Test(
        "Reservations and charging profiles sent are recorded with the charger's answer",
        arguments: TestBackend.allCases
    )
    func recorded(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.connect("CP-REC")
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        /// Sends a command, answers it with `answer`, and returns the HTTP response.
        func command(_ path: String, _ body: String, answer: String) async throws -> HTTPResponse {
            let pending = Task { try await Self.http(server.port, "POST", "/charge_points/CP-REC/\(path)", body: body) }
            let call = try parse(try await charger.nextText())
            try await charger.send(#"[3,"\#(call[1] as! String)",\#(answer)]"#)
            return try await pending.value
        }
        func list(_ path: String) async throws -> [[String: Any]] {
            let response = try await Self.http(server.port, "GET", path)
            return ((response.json as? [String: Any])?["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        }
        let reserved = try await command(
            "reserve_now",
            #"{"connector_id":1,"expiry_date":"2026-06-01T12:00:00Z","id_tag":"TAG-R","reservation_id":77}"#,
            answer: #"{"status":"Accepted"}"#
        )
        #expect(reserved.status == 200, "\(reserved.body)")
        var reservations = try await list("/db/reservations/?reservation_id=77")
        #expect(reservations.count == 1)
        #expect(reservations.first?["response_status"] as? String == "Accepted")
        #expect(reservations.first?["id_tag"] as? String == "TAG-R")
        #expect(reservations.first?["expiry_date"] as? String == "2026-06-01T12:00:00.000Z")
        #expect(reservations.first?["cancelled_at"] is NSNull)
        _ = try await command("cancel_reservation", #"{"reservation_id":77}"#, answer: #"{"status":"Accepted"}"#)
        reservations = try await list("/db/reservations/?reservation_id=77")
        #expect(reservations.first?["cancelled_at"] is String)

        let profile = #"""
            {"connector_id":1,"cs_charging_profiles":{"charging_profile_id":9,"stack_level":1,
             "charging_profile_purpose":"TxDefaultProfile","charging_profile_kind":"Absolute",
             "charging_schedule":{"charging_rate_unit":"A","charging_schedule_period":[{"start_period":0,"limit":16}]}}}
            """#
        let set = try await command("charging_profile", profile, answer: #"{"status":"Accepted"}"#)
        #expect(set.status == 200, "\(set.body)")
        var profiles = try await list("/db/charging_profiles/?charging_profile_id=9")
        #expect(profiles.count == 1)
        #expect(profiles.first?["purpose"] as? String == "TxDefaultProfile")
        #expect(profiles.first?["stack_level"] as? Int == 1)
        #expect((profiles.first?["profile"] as? String)?.contains(#""charging_schedule_period""#) == true)
        #expect(profiles.first?["cleared_at"] is NSNull)
        _ = try await command("clear_charging_profile", #"{"id":9}"#, answer: #"{"status":"Accepted"}"#)
        profiles = try await list("/db/charging_profiles/?charging_profile_id=9")
        #expect(profiles.first?["cleared_at"] is String)
        // A rejected reservation is recorded as such; the records cannot be written over REST.
        _ = try await command(
            "reserve_now",
            #"{"connector_id":2,"expiry_date":"2026-06-01T12:00:00Z","id_tag":"TAG-R","reservation_id":78}"#,
            answer: #"{"status":"Occupied"}"#
        )
        #expect(try await list("/db/reservations/?response_status=Occupied").count == 1)
        #expect(try await Self.http(server.port, "POST", "/db/reservations/", body: "{}").status == 405)
        await charger.close()
        await server.stop()
    }

    @Test("GET configuration passes repeated keys and answers snake_case")
    func configuration() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-CONF")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let pending = Task {
            try await Self.http(
                server.port,
                "GET",
                "/charge_points/CP-CONF/configuration?key=HeartbeatInterval&key=Nope"
            )
        }
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "GetConfiguration")
        #expect(try object(call[3])["key"] as? [String] == ["HeartbeatInterval", "Nope"])
        try await charger.send(
            #"[3,"\#(call[1] as! String)",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}],"unknownKey":["Nope"]}]"#
        )
        let response = try await pending.value
        #expect(response.status == 200)
        let json = try object(response.json as Any)
        #expect(json["unknown_key"] as? [String] == ["Nope"])
        let first = try object((json["configuration_key"] as? [Any])?.first as Any)
        #expect(first["value"] as? String == "300")
        #expect(first["readonly"] as? Bool == false)
        await charger.close()
        await server.stop()
    }

    @Test("Errors: 422 with loc for invalid bodies, 404 when not connected, 502 for a CALLERROR, 504 on timeout")
    func errors() async throws {
        let server = try await IngestTestServer.start()
        let invalid = try await Self.http(server.port, "POST", "/charge_points/CP-E/reset", body: #"{"type":"Warm"}"#)
        #expect(invalid.status == 422)
        let detail = try object(((try object(invalid.json as Any))["detail"] as? [Any])?.first as Any)
        #expect(detail["loc"] as? [String] == ["body", "type"])
        #expect(detail["type"] as? String == "PropertyConstraintViolation")
        #expect((detail["msg"] as? String)?.isEmpty == false)

        let unknown = try await Self.http(
            server.port,
            "POST",
            "/charge_points/CP-E/reset",
            body: #"{"type":"Hard","x":1}"#
        )
        #expect(unknown.status == 422)
        let garbage = try await Self.http(server.port, "POST", "/charge_points/CP-E/unlock", body: "{not json")
        #expect(garbage.status == 422)
        let missing = try await Self.http(server.port, "POST", "/charge_points/CP-E/unlock", body: "{}")
        #expect(missing.status == 422)
        #expect(missing.body.contains("connector_id"))

        let absent = try await Self.http(server.port, "POST", "/charge_points/CP-E/reset", body: #"{"type":"Hard"}"#)
        #expect(absent.status == 404)
        #expect(absent.body.contains("not connected"))

        let charger = try await server.connect("CP-E")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let refused = Task { try await Self.http(server.port, "POST", "/charge_points/CP-E/clear_cache") }
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "ClearCache")
        try await charger.send(#"[4,"\#(call[1] as! String)","InternalError","cache locked",{"reason":"busy"}]"#)
        let badGateway = try await refused.value
        #expect(badGateway.status == 502)
        let body = try object(badGateway.json as Any)
        #expect(body["error_code"] as? String == "InternalError")
        #expect(body["error_description"] as? String == "cache locked")

        await charger.close()
        await server.stop()

        // The timeout itself is tested in virtual time (ConnectionHandlerTests.callTimeouts);
        // here that it becomes a 504, on a server that waits one second.
        let impatient = try await IngestTestServer.start(IngestConfiguration(callTimeout: 1))
        let slow = try await impatient.connect("CP-E")
        _ = try await slow.call("1", "Heartbeat", "{}")
        let silent = Task {
            try await Self.http(impatient.port, "POST", "/charge_points/CP-E/reset", body: #"{"type":"Soft"}"#)
        }
        _ = try await slow.nextText()
        let timeout = try await silent.value
        #expect(timeout.status == 504)
        await slow.close()
        await impatient.stop()
    }

    @Test("GET /charge_points lists connected chargers with pagination")
    func listConnected() async throws {
        let server = try await IngestTestServer.start()
        let first = try await server.connect("CP-A")
        let second = try await server.connect("CP-B")
        _ = try await first.call("1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        _ = try await second.call("1", "Heartbeat", "{}")
        let all = try await Self.http(server.port, "GET", "/charge_points")
        #expect(all.status == 200)
        let json = try object(all.json as Any)
        #expect(json["total"] as? Int == 2)
        #expect(json["limit"] as? Int == 100)
        #expect(json["offset"] as? Int == 0)
        let items = (json["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        #expect(items.map { $0["charge_point_id"] as? String } == ["CP-A", "CP-B"])
        #expect(items.first?["registration_status"] as? String == "Accepted")
        #expect((items.first?["remote_address"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(items.first?["connected_since"] as? String != nil)
        let page = try object(try await Self.http(server.port, "GET", "/charge_points?limit=1&offset=1").json as Any)
        #expect((page["items"] as? [Any])?.count == 1)
        #expect(page["total"] as? Int == 2)
        let bad = try await Self.http(server.port, "GET", "/charge_points?limit=0")
        #expect(bad.status == 422)
        await first.close()
        await second.close()
        await server.stop()
    }
}
