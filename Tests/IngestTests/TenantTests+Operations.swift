import Foundation
import Synchronization
import TestSupport
import Testing

/// The requests of the tenant matrix: for each operation of the document, the request on the
/// own company's rows, the same on the other company's, and the statuses each must get.
extension TenantTests {
    /// Makes unique names for the rows the matrix creates.
    static let serial = Atomic<Int>(0)

    static func unique(_ prefix: String) -> String {
        "\(prefix)\(serial.add(1, ordering: .relaxed).newValue)"
    }

    static let now = ISO8601DateFormatter().string(from: Date())

    /// A body that creates a row of `collection` in `world`'s company.
    static func createBody(_ collection: String, _ world: World) -> String? {
        switch collection {
        case "sites": return #"{"company_id":\#(world.company),"name":"\#(unique("site-"))"}"#
        case "chargers": return #"{"site_id":\#(world.site),"charge_point_id":"\#(unique("NEW-"))"}"#
        case "connectors":
            return #"{"charger_id":\#(world.charger),"connector_id":\#(serial.add(1, ordering: .relaxed).newValue)}"#
        case "drivers": return #"{"company_id":\#(world.company),"name":"\#(unique("driver-"))"}"#
        case "rfid_cards": return #"{"id_tag":"\#(unique("T-"))","driver_id":\#(world.driver)}"#
        case "charge_sessions":
            return #"""
                {"charger_id":\#(world.charger),"connector_id":1,"id_tag":"X","meter_start":\#(serial.add(1, ordering: .relaxed).newValue),"start_time":"\#(now)"}
                """#
        default: return nil
        }
    }

    /// A full-update body for `world`'s own row of `collection` (its unique values kept).
    static func replaceBody(_ collection: String, _ world: World) -> String? {
        switch collection {
        case "companies": return #"{"name":"Company \#(world.name)"}"#
        case "sites": return #"{"company_id":\#(world.company),"name":"\#(world.name) site"}"#
        case "chargers": return #"{"site_id":\#(world.site),"charge_point_id":"\#(world.chargePointID)"}"#
        case "connectors": return #"{"charger_id":\#(world.charger),"connector_id":1}"#
        case "drivers": return #"{"company_id":\#(world.company),"name":"\#(world.name) driver"}"#
        case "rfid_cards":
            return #"{"id_tag":"\#(world.name)-TAG","driver_id":\#(world.driver),"company_id":\#(world.company)}"#
        case "charge_sessions":
            return #"""
                {"charger_id":\#(world.charger),"connector_id":1,"id_tag":"\#(world.name)-TAG","meter_start":0,"start_time":"\#(now)"}
                """#
        default: return nil
        }
    }

    /// Valid bodies of the commands (the charger answers each with a CALLERROR: 502).
    static func commandBody(_ command: String) throws -> String {
        switch command {
        case "reset": return #"{"type":"Soft"}"#
        case "change_configuration": return #"{"key":"HeartbeatInterval","value":"60"}"#
        case "unlock": return #"{"connector_id":1}"#
        case "availability": return #"{"connector_id":0,"type":"Operative"}"#
        case "remote_start": return #"{"id_tag":"A-TAG"}"#
        case "remote_stop": return #"{"transaction_id":1}"#
        case "charging_profile":
            return #"""
                {"connector_id":1,"cs_charging_profiles":{"charging_profile_id":9,"stack_level":1,
                 "charging_profile_purpose":"TxDefaultProfile","charging_profile_kind":"Absolute",
                 "charging_schedule":{"charging_rate_unit":"A","charging_schedule_period":[{"start_period":0,"limit":16}]}}}
                """#
        case "reserve_now":
            return #"{"connector_id":1,"expiry_date":"2030-01-01T00:00:00Z","id_tag":"A-TAG","reservation_id":8}"#
        case "cancel_reservation": return #"{"reservation_id":8}"#
        case "trigger_message": return #"{"requested_message":"Heartbeat"}"#
        case "clear_cache", "get_local_list_version", "clear_charging_profile": return "{}"
        case "data_transfer": return #"{"vendor_id":"tenant"}"#
        case "get_diagnostics": return #"{"location":"ftp://logs.example/"}"#
        case "update_firmware": return #"{"location":"ftp://fw.example/f.bin","retrieve_date":"2030-01-01T00:00:00Z"}"#
        case "send_local_list": return #"{"list_version":1,"update_type":"Full"}"#
        case "get_composite_schedule": return #"{"connector_id":1,"duration":60}"#
        case "install_certificate":
            let pem = try CertificateTests.TestCA().certificatePEM
            return String(
                decoding: try JSONSerialization.data(withJSONObject: [
                    "certificate_type": "CentralSystemRootCertificate", "certificate": pem,
                ]),
                as: UTF8.self
            )
        case "delete_certificate":
            return #"""
                {"certificate_hash_data":{"hash_algorithm":"SHA256","issuer_name_hash":"aa","issuer_key_hash":"bb","serial_number":"01"}}
                """#
        case "get_installed_certificate_ids": return #"{"certificate_type":"CentralSystemRootCertificate"}"#
        case "extended_trigger_message": return #"{"requested_message":"Heartbeat"}"#
        case "get_log":
            return #"{"log":{"remote_location":"ftp://logs.example/"},"log_type":"SecurityLog","request_id":7}"#
        case "signed_update_firmware":
            let pem = try CertificateTests.TestCA().certificatePEM
            return String(
                decoding: try JSONSerialization.data(withJSONObject: [
                    "request_id": 8,
                    "firmware": [
                        "location": "https://fw.example/f.bin", "retrieve_date_time": "2030-01-01T00:00:00Z",
                        "signing_certificate": pem, "signature": "c2lnbmF0dXJl",
                    ] as [String: Any],
                ]),
                as: UTF8.self
            )
        default: throw TestFailure("no body for the command \(command): add one to the tenant matrix")
        }
    }

    /// Valid bodies of the OCPP relay for charger `chargePointID` of `world`.
    static func relayBody(_ endpoint: String, _ world: World) throws -> String {
        let id = #""charge_point_id":"\#(world.chargePointID)""#
        switch endpoint {
        case "charger/register": return #"{\#(id),"charge_point_vendor":"V","charge_point_model":"M"}"#
        case "charger/heartbeat": return "{\(id)}"
        case "connector/status": return #"{\#(id),"connector_id":1,"error_code":"NoError","status":"Available"}"#
        case "session/start":
            return #"{\#(id),"connector_id":1,"id_tag":"\#(world.name)-TAG","meter_start":0,"timestamp":"\#(now)"}"#
        case "session/end": return #"{\#(id),"transaction_id":\#(world.session),"meter_stop":10,"timestamp":"\#(now)"}"#
        case "meter-values":
            return #"{\#(id),"connector_id":1,"meter_value":[{"timestamp":"\#(now)","sampled_value":[{"value":"1"}]}]}"#
        default: throw TestFailure("no body for the relay \(endpoint): add one to the tenant matrix")
        }
    }

    /// Calls `method` on `template` for the own and the other company with `token`.
    static func check(
        _ template: String,
        _ method: Method,
        _ call: Caller,
        _ token: String,
        _ own: World,
        _ other: World,
        _ tokenID: Int64
    ) async throws -> Answers {
        let segments = template.split(separator: "/").map(String.init)
        let last = segments.last ?? ""
        func both(
            _ ownBody: String?,
            _ otherBody: String?,
            _ expectedOwn: Int,
            _ expectedOther: Int
        ) async throws
            -> Answers
        {
            Answers(
                own: try await call(method, own.uri(template, token: tokenID), token: token, body: ownBody),
                other: try await call(method, other.uri(template, token: tokenID), token: token, body: otherBody),
                expectedOwn: expectedOwn,
                expectedOther: expectedOther
            )
        }
        // The connected chargers: own ones reached (and answering with a CALLERROR), other ones absent.
        if segments.first == "charge_points" {
            if segments.count == 1 { return try await both(nil, nil, 200, 200) }
            let body = method == .get ? nil : try commandBody(last)
            return try await both(body, body, 502, 404)
        }
        if segments.starts(with: ["db", "ocpp"]) {
            let endpoint = segments.dropFirst(2).joined(separator: "/")
            return try await both(try relayBody(endpoint, own), try relayBody(endpoint, other), 200, 404)
        }
        if last == "authorization_key" { return try await both("{}", "{}", 502, 404) }
        // Who the caller is: the same answer whichever company's rows the test names.
        if template == "/whoami" { return try await both(nil, nil, 200, 200) }
        // A live stream that is served never ends: its answer's head is read, then it is closed.
        // The fleet's stream names no row: it opens for everyone, with the caller's chargers
        // only (LiveStreamTests); a charger's or a site's of another company is absent.
        if last == "stream" {
            func open(_ world: World) async throws -> HTTP.HTTPResponse {
                let stream = try await EventStreamClient.open(
                    port: call.port,
                    world.uri(template, token: tokenID),
                    token: token
                )
                await stream.close()
                return HTTP.HTTPResponse(status: stream.status, body: stream.body)
            }
            return Answers(
                own: try await open(own),
                other: try await open(other),
                expectedOwn: 200,
                expectedOther: template.contains("{") ? 404 : 200
            )
        }
        // The fleet's own routes: refused to every caller limited to a company by the role table.
        if ["api_tokens", "audit_log"].contains(segments.dropFirst().first) || template == "/metrics" {
            return try await both(nil, nil, 403, 403)
        }
        // The database: a collection, nested or not, or one row, and the history routes.
        guard segments.first == "db" else { throw TestFailure("the tenant matrix does not know \(template)") }
        let isItem = last.hasPrefix("{")
        let collection = isItem ? segments[segments.count - 2] : last
        let nested = segments.count > (isItem ? 3 : 2)
        if !isItem,
            ![
                "", "companies", "sites", "chargers", "connectors", "drivers", "rfid_cards", "charge_sessions",
                "reservations", "charging_profiles",
            ].contains(collection)
        {
            // History: meter values, status history, events, a session's summary.
            return try await both(nil, nil, 200, 404)
        }
        switch (method, isItem) {
        case (.get, _): return try await both(nil, nil, 200, nested || isItem ? 404 : 200)
        case (.post, false):
            // Another company's parent is a reference to a row that does not exist (409); in the path, a 404.
            return try await both(
                createBody(collection, own),
                createBody(collection, other),
                201,
                nested ? 404 : 409
            )
        case (.put, true): return try await both(replaceBody(collection, own), replaceBody(collection, other), 200, 404)
        case (.patch, true): return try await both("{}", "{}", 200, 404)
        case (.delete, true):
            // A row of the own company made for the purpose, as the unlimited admin.
            guard var body = createBody(collection, own) else { return try await both(nil, nil, 403, 403) }
            // The unlimited admin's card names its company itself.
            if collection == "rfid_cards" { body = String(body.dropLast()) + #","company_id":\#(own.company)}"# }
            let created = try await call(.post, "/db/\(collection)/", body: body)
            let id = try #require(
                (try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["id"] as? Int,
                "\(created.body)"
            )
            let ownURI = own.uri(template, token: tokenID).split(separator: "/").dropLast().joined(separator: "/")
            return Answers(
                own: try await call(.delete, "/\(ownURI)/\(id)", token: token),
                other: try await call(.delete, other.uri(template, token: tokenID), token: token),
                expectedOwn: 204,
                expectedOther: 404
            )
        default: throw TestFailure("the tenant matrix does not know \(method) \(template)")
        }
    }
}
