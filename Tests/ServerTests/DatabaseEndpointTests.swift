import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Relational
import TestSupport
import Testing

/// The `/db/` CRUD endpoints over a real socket, against SQLite and PostgreSQL.
@Suite("Database endpoints")
struct DatabaseEndpointTests {
    struct Answer {
        var status: Int
        var body: String
        var headers: HTTPFields

        var object: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
        var items: [[String: Any]] { object["items"] as? [[String: Any]] ?? [] }
        var id: Int { object["id"] as? Int ?? -1 }
        /// The first 422 detail's location and type.
        var invalid: (loc: [String], type: String)? {
            guard let first = (object["detail"] as? [[String: Any]])?.first else { return nil }
            return ((first["loc"] as? [Any] ?? []).map { "\($0)" }, first["type"] as? String ?? "")
        }
    }

    /// Runs `body` with a client of an API on a fresh database of `backend`.
    static func withAPI(
        _ backend: TestBackend,
        _ body: @escaping @Sendable (_ call: Client) async throws -> Void
    ) async throws {
        try await backend.withStore { store in
            let application = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                relational: store,
                authentication: .disabled,
                logger: TestBackend.logger
            )
            try await application.testLive { client in
                try await body(Client(client: client))
            }
        }
    }

    struct Client: Sendable {
        let client: LiveClient

        func callAsFunction(_ method: HTTPRequest.Method, _ uri: String, _ json: String? = nil) async throws -> Answer {
            try await client.execute(
                uri: uri,
                method: method,
                headers: json == nil ? [:] : [.contentType: "application/json"],
                body: json.map { ByteBuffer(string: $0) }
            ) { response in
                Answer(
                    status: Int(response.status.code),
                    body: String(buffer: response.body),
                    headers: response.headers
                )
            }
        }
    }

    @Test("A company: create, get, list, replace, change, delete", arguments: TestBackend.allCases)
    func companyLifecycle(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let created = try await call(.post, "/db/companies/", #"{"name":"ACME"}"#)
            #expect(created.status == 201)
            #expect(created.object["name"] as? String == "ACME")
            #expect(created.headers[.location] == "/db/companies/\(created.id)")
            #expect(created.object["created_at"] is String)
            let fetched = try await call(.get, "/db/companies/\(created.id)")
            #expect(fetched.status == 200)
            #expect(fetched.body == created.body)
            let list = try await call(.get, "/db/companies")
            #expect(list.object["total"] as? Int == 1)
            #expect(list.object["limit"] as? Int == 50)
            #expect(list.object["offset"] as? Int == 0)
            #expect(list.items.first?["name"] as? String == "ACME")
            let replaced = try await call(.put, "/db/companies/\(created.id)", #"{"name":"ACME Charging"}"#)
            #expect(replaced.status == 200)
            #expect(replaced.object["name"] as? String == "ACME Charging")
            let changed = try await call(.patch, "/db/companies/\(created.id)", #"{"name":"ACME 2"}"#)
            #expect(changed.object["name"] as? String == "ACME 2")
            #expect(try await call(.delete, "/db/companies/\(created.id)").status == 204)
            let gone = try await call(.get, "/db/companies/\(created.id)")
            #expect(gone.status == 404)
            #expect(gone.object["detail"] as? String == "company \(created.id) does not exist")
            #expect(try await call(.delete, "/db/companies/\(created.id)").status == 404)
            #expect(try await call(.patch, "/db/companies/\(created.id)", #"{"name":"x"}"#).status == 404)
        }
    }

    @Test("Invalid bodies and parameters are 422 naming the field; conflicts 409", arguments: TestBackend.allCases)
    func invalidInput(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let company = try await call(.post, "/db/companies", #"{"name":"ACME"}"#).id
            let cases: [(HTTPRequest.Method, String, String?, [String], String)] = [
                (.post, "/db/companies", "{}", ["body", "name"], "missing"),
                (.post, "/db/companies", #"{"name":""}"#, ["body", "name"], "string_too_short"),
                (.post, "/db/companies", #"{"name":7}"#, ["body", "name"], "string_type"),
                (.post, "/db/companies", #"{"name":"B","nmae":"C"}"#, ["body", "nmae"], "extra_forbidden"),
                (.post, "/db/companies", #"{"name":"B","id":4}"#, ["body", "id"], "extra_forbidden"),
                (.post, "/db/companies", #"{"name":"#, ["body"], "json_invalid"),
                (.post, "/db/companies", "[]", ["body"], "model_attributes_type"),
                (
                    .post, "/db/sites", #"{"company_id":\#(company),"name":"S","latitude":91}"#, ["body", "latitude"],
                    "less_than_equal"
                ),
                (.post, "/db/sites", #"{"company_id":"1","name":"S"}"#, ["body", "company_id"], "int_type"),
                (
                    .post, "/db/chargers", #"{"charge_point_id":"CP","registration_status":"Maybe"}"#,
                    ["body", "registration_status"], "enum"
                ),
                (.post, "/db/chargers", #"{"charge_point_id":null}"#, ["body", "charge_point_id"], "string_type"),
                (
                    .post, "/db/rfid_cards", #"{"id_tag":"TAG","expiry_date":"tomorrow"}"#, ["body", "expiry_date"],
                    "datetime_parsing"
                ),
                (.get, "/db/companies?limit=0", nil, ["query", "limit"], "int_parsing"),
                (.get, "/db/companies?offset=-1", nil, ["query", "offset"], "int_parsing"),
                (.get, "/db/companies?sort=colour", nil, ["query", "sort"], "enum"),
                (.get, "/db/companies?colour=red", nil, ["query", "colour"], "extra_forbidden"),
                (.get, "/db/chargers?site_id=abc", nil, ["query", "site_id"], "int_parsing"),
                (.get, "/db/charge_sessions?from=yesterday", nil, ["query", "from"], "datetime_parsing"),
                (.get, "/db/companies/abc", nil, ["path", "company_id"], "int_parsing"),
                (.delete, "/db/companies/\(company)?cascade=maybe", nil, ["query", "cascade"], "bool_parsing"),
            ]
            for (method, uri, body, location, type) in cases {
                let answer = try await call(method, uri, body)
                #expect(answer.status == 422, "\(method) \(uri) \(body ?? ""): \(answer.body)")
                #expect(answer.invalid?.loc == location, "\(method) \(uri) \(body ?? ""): \(answer.body)")
                #expect(answer.invalid?.type == type, "\(method) \(uri) \(body ?? ""): \(answer.body)")
            }
            let duplicate = try await call(.post, "/db/companies", #"{"name":"ACME"}"#)
            #expect(duplicate.status == 409, "\(duplicate.body)")
            #expect((duplicate.object["detail"] as? String)?.contains("already exists") == true)
            // A reference to a row that does not exist is a conflict with the database's state.
            let dangling = try await call(.post, "/db/sites", #"{"company_id":999,"name":"S"}"#)
            #expect(dangling.status == 409, "\(dangling.body)")
            #expect((dangling.object["detail"] as? String)?.contains("does not exist") == true, "\(dangling.body)")
            let unknownRoute = try await call(.get, "/db/colours")
            #expect(unknownRoute.status == 404)
            #expect(unknownRoute.object["detail"] is String)
            // Nothing invalid was stored.
            #expect(try await call(.get, "/db/companies").object["total"] as? Int == 1)
            #expect(try await call(.get, "/db/sites").object["total"] as? Int == 0)
        }
    }

    @Test("Sites under a company and chargers under its sites", arguments: TestBackend.allCases)
    func nestedCollections(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let acme = try await call(.post, "/db/companies", #"{"name":"ACME"}"#).id
            let other = try await call(.post, "/db/companies", #"{"name":"Other"}"#).id
            let depot = try await call(.post, "/db/companies/\(acme)/sites/", #"{"name":"Depot","city":"Berlin"}"#)
            #expect(depot.status == 201, "\(depot.body)")
            #expect(depot.object["company_id"] as? Int == acme)
            _ = try await call(.post, "/db/companies/\(other)/sites", #"{"name":"Elsewhere"}"#)
            let mismatch = try await call(.post, "/db/companies/\(acme)/sites", #"{"name":"X","company_id":\#(other)}"#)
            #expect(mismatch.status == 422)
            #expect(mismatch.invalid?.loc == ["body", "company_id"])
            #expect(try await call(.post, "/db/companies/999/sites", #"{"name":"X"}"#).status == 404)
            let acmeSites = try await call(.get, "/db/companies/\(acme)/sites")
            #expect(acmeSites.object["total"] as? Int == 1)
            #expect(acmeSites.items.first?["name"] as? String == "Depot")
            #expect(try await call(.get, "/db/sites").object["total"] as? Int == 2)
            #expect(try await call(.get, "/db/companies/\(other)/sites/\(depot.id)").status == 404)
            #expect(try await call(.get, "/db/companies/\(acme)/sites/\(depot.id)").status == 200)

            let charger = try await call(
                .post,
                "/db/companies/\(acme)/sites/\(depot.id)/chargers/",
                #"{"charge_point_id":"CP-1","vendor":"V"}"#
            )
            #expect(charger.status == 201, "\(charger.body)")
            #expect(charger.object["site_id"] as? Int == depot.id)
            #expect(charger.object["registration_status"] as? String == "Accepted")
            #expect(charger.object["last_boot_at"] is NSNull)
            _ = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-2"}"#)
            #expect(try await call(.get, "/db/companies/\(other)/sites/\(depot.id)/chargers").status == 404)
            let atDepot = try await call(.get, "/db/companies/\(acme)/sites/\(depot.id)/chargers")
            #expect(atDepot.items.map { $0["charge_point_id"] as? String } == ["CP-1"])
            let byIdentity = try await call(.get, "/db/chargers/?charge_point_id=CP-2")
            #expect(byIdentity.items.count == 1)
            #expect(
                try await call(.get, "/db/chargers?site_id=null").items.map { $0["charge_point_id"] as? String } == [
                    "CP-2"
                ]
            )
            let moved = try await call(
                .patch,
                "/db/companies/\(acme)/sites/\(depot.id)/chargers/\(charger.id)",
                #"{"model":"M"}"#
            )
            #expect(moved.object["model"] as? String == "M")
            #expect(moved.object["vendor"] as? String == "V")

            // A company with sites is kept unless the delete cascades; its chargers stay, without a site.
            let refused = try await call(.delete, "/db/companies/\(acme)")
            #expect(refused.status == 409, "\(refused.body)")
            #expect(try await call(.delete, "/db/companies/\(acme)?cascade=true").status == 204)
            #expect(try await call(.get, "/db/sites/\(depot.id)").status == 404)
            let orphan = try await call(.get, "/db/chargers/\(charger.id)")
            #expect(orphan.object["site_id"] is NSNull)
        }
    }

    @Test(
        "Connectors, drivers, RFID cards and sessions: filters, time range, sorting, pages",
        arguments: TestBackend.allCases
    )
    func otherResources(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let company = try await call(.post, "/db/companies", #"{"name":"ACME"}"#).id
            let charger = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-1"}"#).id
            let connector = try await call(.post, "/db/connectors", #"{"charger_id":\#(charger),"connector_id":1}"#)
            #expect(connector.status == 201, "\(connector.body)")
            #expect(connector.object["status"] is NSNull)
            #expect(
                try await call(.post, "/db/connectors", #"{"charger_id":\#(charger),"connector_id":1}"#).status == 409
            )
            let driver = try await call(.post, "/db/drivers", #"{"company_id":\#(company),"name":"Ada"}"#).id
            let card = try await call(
                .post,
                "/db/rfid_cards",
                #"{"id_tag":"TAG-1","driver_id":\#(driver),"expiry_date":"2027-01-01T00:00:00+01:00"}"#
            )
            #expect(card.status == 201, "\(card.body)")
            #expect(card.object["status"] as? String == "Accepted")
            #expect(card.object["expiry_date"] as? String == "2026-12-31T23:00:00.000Z")
            let blocked = try await call(.patch, "/db/rfid_cards/\(card.id)", #"{"status":"Blocked"}"#)
            #expect(blocked.object["status"] as? String == "Blocked")
            #expect(blocked.object["driver_id"] as? Int == driver)
            #expect(try await call(.get, "/db/rfid_cards/?id_tag=TAG-1").items.count == 1)

            for day in 1...5 {
                let session = try await call(
                    .post,
                    "/db/charge_sessions",
                    #"{"charger_id":\#(charger),"connector_id":1,"id_tag":"TAG-1","meter_start":\#(day * 100),"start_time":"2026-03-0\#(day)T10:00:00Z"}"#
                )
                #expect(session.status == 201, "\(session.body)")
                #expect(session.object["status"] as? String == "active")
            }
            let firstSession =
                try await call(.get, "/db/charge_sessions?limit=1&sort=start_time").items[0]["id"] as! Int
            let stopped = try await call(
                .patch,
                "/db/charge_sessions/\(firstSession)",
                #"{"status":"completed","meter_stop":250,"stop_time":"2026-03-01T11:00:00Z","energy_wh":150}"#
            )
            #expect(stopped.object["energy_wh"] as? Int == 150)
            let range = try await call(
                .get,
                "/db/charge_sessions?charger_id=\(charger)&from=2026-03-02T00:00:00Z&to=2026-03-05T00:00:00Z&sort=-start_time"
            )
            #expect(range.items.map { $0["meter_start"] as? Int } == [400, 300, 200])
            #expect(
                try await call(.get, "/db/charge_sessions?status=completed").items.map { $0["id"] as? Int } == [
                    firstSession
                ]
            )
            let page = try await call(.get, "/db/charge_sessions?limit=2&offset=2&sort=meter_start")
            #expect(page.object["total"] as? Int == 5)
            #expect(page.items.map { $0["meter_start"] as? Int } == [300, 400])

            // A driver with cards: kept unless the delete cascades, which clears the cards' reference.
            #expect(try await call(.delete, "/db/drivers/\(driver)").status == 409)
            #expect(try await call(.delete, "/db/drivers/\(driver)?cascade=true").status == 204)
            #expect(try await call(.get, "/db/rfid_cards/\(card.id)").object["driver_id"] is NSNull)
            #expect(try await call(.delete, "/db/chargers/\(charger)").status == 409)
            #expect(try await call(.delete, "/db/chargers/\(charger)?cascade=true").status == 204)
            #expect(try await call(.get, "/db/charge_sessions").object["total"] as? Int == 0)
            #expect(try await call(.get, "/db/connectors").object["total"] as? Int == 0)
        }
    }
}
